//! Sealing and opening with AES-256-GCM.
//!
//! A sealed credential is a 96-bit nonce (fresh from the OS random source for every write)
//! and a blob: a 5-byte header (format 1, then the key version as a big-endian `u32`)
//! followed by the AES-GCM ciphertext and its 16-byte tag. The associated data binds the
//! blob to its record: a domain label, the header, and the length-prefixed provider and
//! name. So a blob copied to another record, to another key version, or edited in any
//! byte fails to open. The header makes a blob say which key sealed it even outside its row.
//!
//! A key-check value is the same construction over a fixed constant, bound to its version:
//! opening it proves a master key is the version's key before any credential is touched.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Generate, KeyInit};

type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::VaultError;
use crate::key::CipherKey;

/// The length of an AES-GCM nonce: 96 bits.
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 5;
const CREDENTIAL_LABEL: &[u8] = b"revops-vault/credential/1\0";
const CHECK_LABEL: &[u8] = b"revops-vault/key-check/1\0";
const CHECK_PLAINTEXT: &[u8] = b"revops vault key check";

/// A credential's sealed form, as stored.
pub(crate) struct Sealed {
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) blob: Vec<u8>,
}

/// Why a blob did not open. The caller turns this into an error naming the record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// Wrong length, unknown format, a header naming another key version, a bad tag.
    Inauthentic,
    /// The header names a key version that differs from the key given.
    OtherVersion(u32),
}

fn cipher(key: &CipherKey) -> Result<Aes256Gcm, VaultError> {
    Aes256Gcm::new_from_slice(key.key.expose_secret())
        .map_err(|_| VaultError::Internal("prepare the cipher"))
}

fn header(version: u32) -> [u8; HEADER_LEN] {
    let v = version.to_be_bytes();
    [FORMAT, v[0], v[1], v[2], v[3]]
}

/// The associated data of a credential: its label, header, provider and name, each of the
/// last two prefixed with its length so ("ab", "c") and ("a", "bc") differ.
fn credential_aad(header: &[u8; HEADER_LEN], provider: &str, name: &str) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(CREDENTIAL_LABEL.len() + HEADER_LEN + 8 + provider.len() + name.len());
    aad.extend_from_slice(CREDENTIAL_LABEL);
    aad.extend_from_slice(header);
    for part in [provider, name] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

fn fresh_nonce() -> Result<[u8; NONCE_LEN], VaultError> {
    <[u8; NONCE_LEN]>::try_generate().map_err(|error| {
        tracing::error!(%error, "the system random source failed");
        VaultError::Internal("generate a nonce")
    })
}

/// Encrypts `plaintext` under `key` with `aad`; the plaintext is copied only into a buffer
/// that is wiped if encryption fails.
fn encrypt(
    key: &CipherKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    // Exactly the room the tag needs, so encrypting in place never reallocates (which
    // would leave plaintext behind in freed memory).
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buffer.extend_from_slice(plaintext);
    cipher(key)?
        .encrypt_in_place(&Nonce::from(*nonce), aad, &mut *buffer)
        .map_err(|_| VaultError::InvalidInput("the secret is too long to seal".into()))?;
    // Now ciphertext: take it out of the wiping wrapper.
    Ok(std::mem::take(&mut *buffer))
}

/// Decrypts into a buffer that is wiped when dropped; `None` when the tag does not verify.
fn decrypt(
    key: &CipherKey,
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(nonce) else {
        return Ok(None);
    };
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    match cipher(key)?.decrypt_in_place(&Nonce::from(nonce), aad, &mut *buffer) {
        Ok(()) => Ok(Some(buffer)),
        Err(_) => Ok(None),
    }
}

/// Seals a credential's secret for the record `(provider, name)` under `key`.
pub(crate) fn seal(
    key: &CipherKey,
    provider: &str,
    name: &str,
    secret: &SecretString,
) -> Result<Sealed, VaultError> {
    let header = header(key.version);
    let nonce = fresh_nonce()?;
    let aad = credential_aad(&header, provider, name);
    let ciphertext = encrypt(key, &nonce, &aad, secret.expose_secret().as_bytes())?;
    let mut blob = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(&ciphertext);
    Ok(Sealed { nonce, blob })
}

/// Opens a credential sealed for `(provider, name)`.
pub(crate) fn open(
    key: &CipherKey,
    provider: &str,
    name: &str,
    nonce: &[u8],
    blob: &[u8],
) -> Result<Result<SecretString, OpenFailure>, VaultError> {
    if blob.len() < HEADER_LEN + TAG_LEN {
        return Ok(Err(OpenFailure::Inauthentic));
    }
    let (head, ciphertext) = blob.split_at(HEADER_LEN);
    let Ok(head) = <[u8; HEADER_LEN]>::try_from(head) else {
        return Ok(Err(OpenFailure::Inauthentic));
    };
    if head[0] != FORMAT {
        return Ok(Err(OpenFailure::Inauthentic));
    }
    let named = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if named != key.version {
        return Ok(Err(OpenFailure::OtherVersion(named)));
    }
    let aad = credential_aad(&head, provider, name);
    let Some(plaintext) = decrypt(key, nonce, &aad, ciphertext)? else {
        return Ok(Err(OpenFailure::Inauthentic));
    };
    // Every sealed secret was a `SecretString`, so authentic plaintext is UTF-8; the
    // `SecretString` gets its own exact-size copy and the buffer is wiped on drop.
    match std::str::from_utf8(&plaintext) {
        Ok(text) => Ok(Ok(SecretString::from(text))),
        Err(_) => Ok(Err(OpenFailure::Inauthentic)),
    }
}

/// The key-check value of `key`: the fixed constant sealed under it, bound to its version;
/// base64 of nonce and ciphertext.
pub(crate) fn key_check(key: &CipherKey) -> Result<String, VaultError> {
    let nonce = fresh_nonce()?;
    let aad = check_aad(key.version);
    let ciphertext = encrypt(key, &nonce, &aad, CHECK_PLAINTEXT)?;
    let mut value = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    value.extend_from_slice(&nonce);
    value.extend_from_slice(&ciphertext);
    Ok(BASE64.encode(value))
}

/// True when `key` opens the key-check value recorded for its version.
pub(crate) fn matches_key_check(key: &CipherKey, stored: &str) -> Result<bool, VaultError> {
    let value = BASE64
        .decode(stored)
        .map_err(|_| VaultError::Corrupt("a key version's key-check value is not base64"))?;
    if value.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Corrupt(
            "a key version's key-check value is too short",
        ));
    }
    let (nonce, ciphertext) = value.split_at(NONCE_LEN);
    let aad = check_aad(key.version);
    Ok(decrypt(key, nonce, &aad, ciphertext)?
        .is_some_and(|plaintext| plaintext.as_slice() == CHECK_PLAINTEXT))
}

fn check_aad(version: u32) -> Vec<u8> {
    let mut aad = CHECK_LABEL.to_vec();
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

    use super::*;
    use secrecy::SecretBox;

    fn key(version: u32, byte: u8) -> CipherKey {
        CipherKey {
            version,
            key: SecretBox::init_with_mut(|k: &mut [u8; 32]| k.fill(byte)),
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_own_record_and_key() {
        let k = key(1, 7);
        let secret = SecretString::from("pat-na1-0123456789");
        let sealed = seal(&k, "hubspot", "private_app_token", &secret).unwrap();
        let opened = open(
            &k,
            "hubspot",
            "private_app_token",
            &sealed.nonce,
            &sealed.blob,
        )
        .unwrap()
        .unwrap();
        assert_eq!(opened.expose_secret(), "pat-na1-0123456789");
        for (provider, name) in [
            ("hubspot", "private_app_toke"),
            ("hubspo", "tprivate_app_token"),
            ("salesforce", "private_app_token"),
        ] {
            assert_eq!(
                open(&k, provider, name, &sealed.nonce, &sealed.blob)
                    .unwrap()
                    .unwrap_err(),
                OpenFailure::Inauthentic
            );
        }
        assert!(
            open(
                &key(1, 8),
                "hubspot",
                "private_app_token",
                &sealed.nonce,
                &sealed.blob
            )
            .unwrap()
            .is_err()
        );
        assert_eq!(
            open(
                &key(2, 7),
                "hubspot",
                "private_app_token",
                &sealed.nonce,
                &sealed.blob
            )
            .unwrap()
            .unwrap_err(),
            OpenFailure::OtherVersion(1)
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let k = key(1, 7);
        let secret = SecretString::from("same secret");
        let a = seal(&k, "p", "n", &secret).unwrap();
        let b = seal(&k, "p", "n", &secret).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.blob, b.blob);
    }

    #[test]
    fn the_key_check_accepts_its_key_and_refuses_another_or_another_version() {
        let k = key(3, 1);
        let check = key_check(&k).unwrap();
        assert!(matches_key_check(&k, &check).unwrap());
        assert!(!matches_key_check(&key(3, 2), &check).unwrap());
        assert!(!matches_key_check(&key(4, 1), &check).unwrap());
    }
}
