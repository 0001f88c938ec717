//! Random secrets (session ids, API tokens, the setup token) and the SHA-256 hashes the stores keep instead
//! of them. Secrets are 256 bits from the operating system: a plain hash is enough, no salt or slow hash.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// API tokens start with this, so secret scanners and people can tell what they are.
pub const TOKEN_PREFIX: &str = "hw_";

fn random(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random number generator");
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A new session id for the cookie.
pub fn session_id() -> String {
    random(32)
}

/// A new API token: `hw_` and 43 characters.
pub fn api_token() -> String {
    format!("{TOKEN_PREFIX}{}", random(32))
}

/// The secret of a push check's URL: 32 characters (192 bits), safe in a URL path.
pub fn push_token() -> String {
    random(24)
}

/// A one-time setup token, short enough to copy from a log line (128 bits).
pub fn setup_token() -> String {
    random(16)
}

/// What the stores keep of a secret: its SHA-256, in hex.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares a secret with a stored hash in constant time.
pub fn matches(secret: &str, stored_hash: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_match_only_their_secret() {
        let (a, b) = (api_token(), api_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 46, "{a}");
        assert_eq!(session_id().len(), 43);
        assert_eq!(setup_token().len(), 22);
        let stored = hash(&a);
        assert_eq!(stored.len(), 64);
        assert!(matches(&a, &stored));
        assert!(!matches(&b, &stored));
    }
}
