"""WeCom (企业微信): callback verification and decryption, XML to Inbound, sending through the API."""
