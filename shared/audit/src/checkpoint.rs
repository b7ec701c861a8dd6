//! Signed checkpoints: `(seq, head hash, time)` signed with Ed25519. Compliance keeps them
//! outside the store; verifying the chain against them catches a truncated tail or history
//! rewritten with recomputed hashes. The signing key lives in a file readable only by its
//! owner (0600) until the credential vault holds it.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A signed statement that the chain had `head_hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub head_hash: String,
    pub signed_at: String,
    /// The first 16 hex digits of SHA-256 of the public key.
    pub key_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The Ed25519 signature, hex.
    pub signature: String,
}

fn signed_message(seq: i64, head_hash: &str, signed_at: &str) -> Vec<u8> {
    format!("revops-checkpoint-v1\0{seq}\0{head_hash}\0{signed_at}").into_bytes()
}

impl Checkpoint {
    /// True when the signature verifies under the embedded public key.
    pub fn signature_is_valid(&self) -> bool {
        let Some(key) = hex::decode(&self.public_key)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return false;
        };
        let Some(signature) = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let Ok(key) = VerifyingKey::from_bytes(&key) else {
            return false;
        };
        key.verify(
            &signed_message(self.seq, &self.head_hash, &self.signed_at),
            &Signature::from_bytes(&signature),
        )
        .is_ok()
            && self.key_id == key_id_of(&key)
    }

    /// Reads a checkpoint file.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::File {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|error| Error::File {
            path: path.display().to_string(),
            message: format!("not a checkpoint: {error}"),
        })
    }
}

fn key_id_of(key: &VerifyingKey) -> String {
    crate::entry::sha256_hex(key.as_bytes())[..16].to_string()
}

/// The checkpoint signing key.
pub struct CheckpointKey {
    signing: SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// The variable naming the key file.
pub const KEY_FILE_VAR: &str = "REVOPS_CHECKPOINT_KEY_FILE";

/// `REVOPS_CHECKPOINT_KEY_FILE`, or `checkpoint.key` in the user's data folder.
pub fn default_key_path() -> PathBuf {
    match store::config::var(KEY_FILE_VAR) {
        Some(path) => PathBuf::from(path),
        None => store::location::default_sqlite_path().with_file_name("checkpoint.key"),
    }
}

impl CheckpointKey {
    /// Loads the key at `path`, or creates one there (permissions 0600).
    pub fn load_or_create(path: &Path) -> Result<CheckpointKey> {
        let file_error = |message: String| Error::File {
            path: path.display().to_string(),
            message,
        };
        if path.exists() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)
                    .map_err(|e| file_error(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(file_error(format!(
                        "the key file is readable by others (mode {:o}); run chmod 600 on it",
                        mode & 0o777
                    )));
                }
            }
            let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
            let bytes = hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| file_error("not a checkpoint key (64 hex digits)".into()))?;
            return Ok(CheckpointKey {
                signing: SigningKey::from_bytes(&bytes),
            });
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| file_error(e.to_string()))?;
        }
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| file_error(e.to_string()))?;
        std::io::Write::write_all(&mut file, hex::encode(secret).as_bytes())
            .map_err(|e| file_error(e.to_string()))?;
        Ok(CheckpointKey {
            signing: SigningKey::from_bytes(&secret),
        })
    }

    pub fn key_id(&self) -> String {
        key_id_of(&self.signing.verifying_key())
    }

    /// Signs `(seq, head_hash, now)`.
    pub fn sign(&self, seq: i64, head_hash: &str) -> Checkpoint {
        let signed_at = store::clock::now();
        let signature = self
            .signing
            .sign(&signed_message(seq, head_hash, &signed_at));
        Checkpoint {
            seq,
            head_hash: head_hash.to_string(),
            signed_at,
            key_id: self.key_id(),
            public_key: hex::encode(self.signing.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_and_any_change_breaks_its_signature() {
        let dir = tempfile::tempdir().unwrap();
        let key = CheckpointKey::load_or_create(&dir.path().join("k")).unwrap();
        let checkpoint = key.sign(42, "abc");
        assert!(checkpoint.signature_is_valid());
        let mut moved = checkpoint.clone();
        moved.seq = 41;
        assert!(!moved.signature_is_valid());
        let mut rehashed = checkpoint;
        rehashed.head_hash = "abd".into();
        assert!(!rehashed.signature_is_valid());
        let again = CheckpointKey::load_or_create(&dir.path().join("k")).unwrap();
        assert_eq!(again.key_id(), key.key_id());
    }
}
