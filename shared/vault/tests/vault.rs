//! The vault end to end on SQLite and (with `REVOPS_TEST_POSTGRES_URL`) Postgres: round
//! trip, ciphertext without plaintext, swapped ciphertexts, wrong key, tampering, unknown key
//! version, an interrupted rotation resumed, passphrase keys, and writers racing a rotation.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

mod scenarios;

use scenarios::*;

macro_rules! on_both_backends {
    ($case:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
            $case(store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(url) = store::test_support::postgres_url_or_skip(stringify!($postgres)) else {
                return;
            };
            $case(store::test_support::fresh_postgres(&url).await.unwrap()).await;
        }
    };
}

on_both_backends!(
    a_credential_round_trips_and_its_ciphertext_never_contains_the_plaintext,
    a_credential_round_trips_and_its_ciphertext_never_contains_the_plaintext_on_sqlite,
    a_credential_round_trips_and_its_ciphertext_never_contains_the_plaintext_on_postgres
);
on_both_backends!(
    swapping_two_ciphertexts_between_records_fails_to_open,
    swapping_two_ciphertexts_between_records_fails_to_open_on_sqlite,
    swapping_two_ciphertexts_between_records_fails_to_open_on_postgres
);
on_both_backends!(
    a_wrong_master_key_is_refused_and_changes_nothing,
    a_wrong_master_key_is_refused_and_changes_nothing_on_sqlite,
    a_wrong_master_key_is_refused_and_changes_nothing_on_postgres
);
on_both_backends!(
    a_tampered_ciphertext_has_its_own_error_and_changes_nothing,
    a_tampered_ciphertext_has_its_own_error_and_changes_nothing_on_sqlite,
    a_tampered_ciphertext_has_its_own_error_and_changes_nothing_on_postgres
);
on_both_backends!(
    an_unknown_key_version_has_its_own_error_and_changes_nothing,
    an_unknown_key_version_has_its_own_error_and_changes_nothing_on_sqlite,
    an_unknown_key_version_has_its_own_error_and_changes_nothing_on_postgres
);
on_both_backends!(
    a_rotation_interrupted_half_way_changes_nothing_and_can_be_run_again,
    a_rotation_interrupted_half_way_changes_nothing_and_can_be_run_again_on_sqlite,
    a_rotation_interrupted_half_way_changes_nothing_and_can_be_run_again_on_postgres
);
on_both_backends!(
    a_passphrase_vault_derives_its_key_with_stored_argon2id_parameters,
    a_passphrase_vault_derives_its_key_with_stored_argon2id_parameters_on_sqlite,
    a_passphrase_vault_derives_its_key_with_stored_argon2id_parameters_on_postgres
);
on_both_backends!(
    without_a_vault_every_error_says_how_to_set_one_up,
    without_a_vault_every_error_says_how_to_set_one_up_on_sqlite,
    without_a_vault_every_error_says_how_to_set_one_up_on_postgres
);
on_both_backends!(
    puts_racing_a_rotation_never_land_under_the_retired_key,
    puts_racing_a_rotation_never_land_under_the_retired_key_on_sqlite,
    puts_racing_a_rotation_never_land_under_the_retired_key_on_postgres
);
