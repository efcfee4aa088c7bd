"""A throwaway Authenticode signing certificate, made with openssl (no network, no CA)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SigningCert:
    pfx: Path  # PKCS#12: certificate and key, protected by *password*
    pem: Path  # the self-signed certificate, the CA for `osslsigncode verify -CAfile`
    password: str


def make_signing_cert(d: Path, password: str = "tëst pass") -> SigningCert:
    d.mkdir(parents=True, exist_ok=True)
    key, pem, pfx = d / "key.pem", d / "cert.pem", d / "cert.pfx"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", str(key), "-out", str(pem),
                    "-days", "30", "-nodes", "-subj", "/CN=bundler test signer"], check=True, capture_output=True)
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", str(key), "-in", str(pem), "-out", str(pfx),
                    "-passout", "env:PFX_PASSWORD"], check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "PFX_PASSWORD": password})
    return SigningCert(pfx, pem, password)


def osslsigncode_verify(path: Path, cert: SigningCert) -> str:
    """`osslsigncode verify` of *path* against *cert*: its output, after checking it succeeded with
    the file's digest matching the signed one."""
    proc = subprocess.run(["osslsigncode", "verify", "-CAfile", str(cert.pem), "-in", str(path)],
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    current = re.search(r"Current message digest\s*:\s*([0-9A-F]+)", out)
    calculated = re.search(r"Calculated message digest\s*:\s*([0-9A-F]+)", out)
    assert current and calculated and current.group(1) == calculated.group(1), out
    assert "Signature verification: ok" in out and "bundler test signer" in out, out
    return out
