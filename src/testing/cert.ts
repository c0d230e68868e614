/**
 * The testing kit's own certificate, for startTestServer({ tls: true }): a self-signed
 * P-256 certificate for 127.0.0.1, ::1 and localhost, valid until 2126, made for tests
 * on loopback only. Its private key is public (it ships in the package): never use it
 * to serve anything but a test. Pass your own { key, cert } to use another.
 *
 * Made with: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
 *   -days 36500 -subj "/CN=roundtrip-http testing (localhost)"
 *   -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
 *   -addext "basicConstraints=critical,CA:TRUE"
 *   -addext "keyUsage=critical,digitalSignature,keyCertSign" -addext "extendedKeyUsage=serverAuth"
 */

export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrtv/h9el7Djyq6j3
iMLpWyOmuZ30Iaq1feQjp0XJLXuhRANCAAStqalvpDzcA46lP+YTGekC9PJz+5DY
Fzp13aRAKkPzu+W81N/hq6hXmoqGkmWE6cndTUmSX+eSjlwFRmP3m5Dj
-----END PRIVATE KEY-----
`;

export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIICBjCCAaygAwIBAgIUI2LfAPcsFLKd63JTOUzahkeoTjIwCgYIKoZIzj0EAwIw
LTErMCkGA1UEAwwicm91bmR0cmlwLWh0dHAgdGVzdGluZyAobG9jYWxob3N0KTAg
Fw0yNjEyMDQxOTQyMDdaGA8yMTI2MTExMDE5NDIwN1owLTErMCkGA1UEAwwicm91
bmR0cmlwLWh0dHAgdGVzdGluZyAobG9jYWxob3N0KTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABK2pqW+kPNwDjqU/5hMZ6QL08nP7kNgXOnXdpEAqQ/O75bzU3+Gr
qFeaioaSZYTpyd1NSZJf55KOXAVGY/ebkOOjgacwgaQwHQYDVR0OBBYEFGjL0hTs
pTduXzGYVmC/lmtQD865MB8GA1UdIwQYMBaAFGjL0hTspTduXzGYVmC/lmtQD865
MCwGA1UdEQQlMCOCCWxvY2FsaG9zdIcEfwAAAYcQAAAAAAAAAAAAAAAAAAAAATAP
BgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIChDATBgNVHSUEDDAKBggrBgEF
BQcDATAKBggqhkjOPQQDAgNIADBFAiEAjRtaw8x1wZz6g8nFsk+n7JmWzc6SDQCb
8gHKGAdmwvcCIDtU94Tf4HAfOuJ10FEKxBG3lwA6/VgLhmo8cp8tbeNe
-----END CERTIFICATE-----
`;
