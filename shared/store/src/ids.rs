//! Record ids: a short prefix naming the kind of record, then digits or random characters
//! (`acc_000042`, `act_k3v9x2m4q8zt`). Text ids read well in a conversation and survive
//! export to a CRM.

use rand::RngExt;

/// A fresh random id with the given prefix, e.g. `new_id("act")` → `act_k3v9x2m4q8zt`.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut rng = rand::rng();
    let suffix: String = (0..14)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{suffix}")
}

/// The id of the `n`th fixture record of a kind, e.g. `fixture_id("acc", 42)` → `acc_000042`.
pub fn fixture_id(prefix: &str, n: u64) -> String {
    format!("{prefix}_{n:06}")
}

/// True when `id` looks like an id of this kind: the prefix, `_`, then 1-40 lowercase
/// letters or digits. Lets a tool say "that is not an account id" before touching the store.
pub fn is_well_formed(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 40
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_well_formed_and_distinct() {
        let a = new_id("act");
        let b = new_id("act");
        assert!(is_well_formed("act", &a), "{a}");
        assert_ne!(a, b);
        assert!(!is_well_formed("acc", "acc_1'; DROP TABLE accounts;--"));
        assert!(!is_well_formed("acc", "lead_000001"));
    }
}
