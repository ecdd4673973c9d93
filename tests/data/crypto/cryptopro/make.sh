#!/bin/sh
# Regenerates the CryptoPro-style GOST 2012 test PKI in this folder with Debian's OpenSSL and its
# GOST engine (libengine-gost-openssl). Private keys are thrown away; only certificates are kept.
# Usage: sh make.sh   (run inside tests/data/crypto/cryptopro)
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ext.cnf" <<'CNF'
[root_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
certificatePolicies = 1.2.643.100.113.1,1.2.643.100.113.2
1.3.6.1.4.1.311.20.2 = ASN1:FORMAT:UTF8,UTF8String:SubCA
1.3.6.1.4.1.311.21.1 = ASN1:INTEGER:0
1.2.643.100.111 = ASN1:FORMAT:UTF8,UTF8String:СКЗИ «КриптоПро CSP» (версия 4.0)
1.2.643.100.112 = ASN1:SEQUENCE:issuer_sign_tool

[sub_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
certificatePolicies = 1.2.643.100.113.1,1.2.643.100.113.2
crlDistributionPoints = URI:http://ca.example.test/sub.crl
authorityInfoAccess = caIssuers;URI:http://ca.example.test/root.crt
1.3.6.1.4.1.311.20.2 = ASN1:FORMAT:UTF8,UTF8String:SubCA
1.3.6.1.4.1.311.21.1 = ASN1:INTEGER:0
1.3.6.1.4.1.311.21.2 = ASN1:FORMAT:HEX,OCTETSTRING:00112233445566778899AABBCCDDEEFF00112233
1.2.643.100.111 = ASN1:FORMAT:UTF8,UTF8String:СКЗИ «КриптоПро CSP» (версия 4.0)
1.2.643.100.112 = ASN1:SEQUENCE:issuer_sign_tool
2.5.29.16 = ASN1:SEQUENCE:pkup

[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = 1.3.6.1.5.5.7.3.4,1.2.643.2.2.34.6
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
certificatePolicies = 1.2.643.100.113.1
1.3.6.1.4.1.311.21.10 = ASN1:SEQUENCE:app_policies
1.2.643.100.111 = ASN1:FORMAT:UTF8,UTF8String:СКЗИ «КриптоПро CSP» (версия 4.0)
1.2.643.100.112 = ASN1:SEQUENCE:issuer_sign_tool

[leaf_critical_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
1.2.643.100.111 = critical,ASN1:FORMAT:UTF8,UTF8String:СКЗИ «КриптоПро CSP» (версия 4.0)

[issuer_sign_tool]
t1 = FORMAT:UTF8,UTF8String:ПАК «Удостоверяющий центр «КриптоПро УЦ» версии 2.0
t2 = FORMAT:UTF8,UTF8String:ПАК «КриптоПро УЦ» версии 2.0
t3 = FORMAT:UTF8,UTF8String:Сертификат соответствия № СФ/124-3380 от 11.05.2018
t4 = FORMAT:UTF8,UTF8String:Сертификат соответствия № СФ/128-3592 от 17.10.2018

[pkup]
nb = IMPLICIT:0,GENTIME:20240101000000Z
na = IMPLICIT:1,GENTIME:20390101000000Z

[app_policies]
p1 = SEQUENCE:app_policy1

[app_policy1]
oid = OID:1.3.6.1.5.5.7.3.4
CNF
subj_root='/C=RU/O=ООО "Тестовый УЦ"/CN=Тестовый корневой УЦ ГОСТ 2012/1.2.643.100.1=1027700000000/1.2.643.3.131.1.1=007700000000'
subj_sub='/C=RU/ST=77 г. Москва/L=Москва/O=ООО "Тестовый УЦ"/CN=Тестовый подчинённый УЦ ГОСТ 2012/1.2.643.100.1=1027700000000'
subj_leaf='/C=RU/O=АО "Страховая компания"/CN=СК ОМС подпись/1.2.643.100.3=00000000000'
openssl genpkey -engine gost -algorithm gost2012_256 -pkeyopt paramset:A -out "$tmp/root.key"
openssl genpkey -engine gost -algorithm gost2012_512 -pkeyopt paramset:A -out "$tmp/sub.key"
openssl genpkey -engine gost -algorithm gost2012_256 -pkeyopt paramset:B -out "$tmp/leaf.key"
openssl req -engine gost -x509 -new -utf8 -key "$tmp/root.key" -md_gost12_256 -days 7300 \
  -subj "$subj_root" -set_serial 0x4f1a2b3c -config "$tmp/ext.cnf" -extensions root_ext \
  -out root-2012-256.pem
openssl req -engine gost -new -utf8 -key "$tmp/sub.key" -subj "$subj_sub" -config "$tmp/ext.cnf" \
  -out "$tmp/sub.csr"
openssl x509 -engine gost -req -in "$tmp/sub.csr" -CA root-2012-256.pem -CAkey "$tmp/root.key" \
  -md_gost12_256 -days 7000 -set_serial 0x01c2d3 -extfile "$tmp/ext.cnf" -extensions sub_ext \
  -out sub-2012-512.pem
for name in leaf leaf_critical; do
  openssl req -engine gost -new -utf8 -key "$tmp/leaf.key" -subj "$subj_leaf" \
    -config "$tmp/ext.cnf" -out "$tmp/$name.csr"
done
openssl x509 -engine gost -req -in "$tmp/leaf.csr" -CA sub-2012-512.pem -CAkey "$tmp/sub.key" \
  -md_gost12_512 -days 3650 -set_serial 0x0a0b0c -extfile "$tmp/ext.cnf" -extensions leaf_ext \
  -out leaf-2012-256.pem
openssl x509 -engine gost -req -in "$tmp/leaf_critical.csr" -CA sub-2012-512.pem \
  -CAkey "$tmp/sub.key" -md_gost12_512 -days 3650 -set_serial 0x0a0b0d -extfile "$tmp/ext.cnf" \
  -extensions leaf_critical_ext -out leaf-critical-unknown.pem
