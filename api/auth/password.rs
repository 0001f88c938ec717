//! Password hashing with argon2id (OWASP's parameters: 19 MiB, 2 passes, 1 lane), on blocking threads so
//! the async workers never stall, and at most a few at once so a burst of logins cannot exhaust memory.

use std::sync::Arc;

use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _, password_hash::SaltString};
use tokio::sync::Semaphore;

/// Hashes running at once, at most (each takes 19 MiB while it runs).
const CONCURRENT_HASHES: usize = 4;

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified instead when the user does not exist, so a wrong name costs what a wrong password does.
    decoy: Arc<String>,
}

impl Passwords {
    pub fn new() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
            decoy: Arc::new(hash_now("a password nobody has, to spend the same time")),
        }
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of a new password.
    pub async fn hash(&self, password: &str) -> String {
        let _permit = self.permits.acquire().await;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .expect("hashing does not panic")
    }

    /// Checks a password against a stored hash, or against the decoy when there is none; false either way
    /// for a mismatch.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let _permit = self.permits.acquire().await;
        let password = password.to_owned();
        let (hash, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy.as_ref().clone(), false),
        };
        let matched = tokio::task::spawn_blocking(move || verify_now(&password, &hash))
            .await
            .unwrap_or(false);
        matched && real
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

fn hash_now(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random number generator");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

fn verify_now(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_their_password_only() {
        let passwords = Passwords::new();
        let hash = passwords.hash("correct horse battery").await;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(passwords.verify("correct horse battery", Some(&hash)).await);
        assert!(!passwords.verify("wrong horse battery", Some(&hash)).await);
        assert!(!passwords.verify("correct horse battery", None).await);
        assert!(!passwords.verify("x", Some("not a hash")).await);
    }
}
