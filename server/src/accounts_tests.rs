//! Tests of [`super::AccountStore`] and [`super::Accounts`] on real files.

use super::*;

const T0: i64 = 1_790_000_000_000_000_000;

fn store() -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountStore::open(&dir.path().join("data")).unwrap();
    (dir, store)
}

/// A store with the user `alice`, password `correct horse`.
fn alice() -> (tempfile::TempDir, AccountStore) {
    let (dir, store) = store();
    store
        .modify(|a| a.add_user("alice", "correct horse", T0))
        .unwrap();
    (dir, store)
}

/// Log `device` in as alice.
fn login(store: &AccountStore, device: &str) -> Login {
    store
        .modify(|a| a.login("alice", "correct horse", device, T0))
        .unwrap()
}

type Change = Box<dyn FnOnce(&mut Accounts) -> Result<(), AccountError>>;

#[test]
fn names_are_plain_folder_names() {
    for good in ["alice", "a", "bob.smith", "team-7", "x_y", &"a".repeat(64)] {
        check_name("user", good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        "",
        "Alice",
        "../x",
        ".hidden",
        "-dash",
        "a/b",
        "a b",
        "é",
        "a\0",
        &"a".repeat(65),
    ] {
        let err = check_name("user", bad).unwrap_err();
        assert!(matches!(err, AccountError::BadName { .. }), "{bad:?}");
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}

#[test]
fn a_user_logs_in_and_the_device_token_authenticates() {
    let (_dir, store) = alice();
    let text = std::fs::read_to_string(store.path()).unwrap();
    assert!(!text.contains("correct horse"), "no password on disk");
    assert!(text.contains("$argon2id$"), "an argon2id hash: {text}");

    let login = store
        .modify(|a| a.login("alice", "correct horse", "laptop", T0 + 1))
        .unwrap();
    assert_eq!(login.token.len(), 64);
    let text = std::fs::read_to_string(store.path()).unwrap();
    assert!(!text.contains(&login.token), "no token on disk");

    let accounts = store.read().unwrap();
    assert_eq!(
        accounts.authenticate(&login.token),
        Some(Session {
            user: "alice".into(),
            device: login.device.clone()
        })
    );
    assert_eq!(accounts.authenticate("0".repeat(64).as_str()), None);
    let device = &accounts.user("alice").unwrap().devices[&login.device];
    assert_eq!(device.name, "laptop");
    assert_eq!(device.revoked_ns, None);
}

#[test]
fn a_wrong_password_and_an_unknown_user_look_the_same() {
    let (_dir, store) = alice();
    let before = std::fs::read(store.path()).unwrap();
    for (user, password) in [("alice", "wrong horse"), ("mallory", "correct horse")] {
        let err = store
            .modify(|a| a.login(user, password, "x", T0))
            .unwrap_err();
        assert!(matches!(err, AccountError::WrongPassword), "{user}: {err}");
        assert_eq!(err.to_string(), "wrong user name or password");
    }
    assert_eq!(
        std::fs::read(store.path()).unwrap(),
        before,
        "a failed login writes nothing"
    );
}

#[test]
fn a_revoked_device_is_refused_and_the_others_are_not() {
    let (_dir, store) = alice();
    let laptop = login(&store, "laptop");
    let phone = login(&store, "phone");
    assert_ne!(laptop.device, phone.device);
    assert_ne!(laptop.token, phone.token);
    store
        .modify(|a| a.revoke("alice", &laptop.device, T0 + 5))
        .unwrap();
    let accounts = store.read().unwrap();
    assert_eq!(accounts.authenticate(&laptop.token), None);
    assert_eq!(
        accounts.authenticate(&phone.token).map(|s| s.device),
        Some(phone.device)
    );
    assert_eq!(
        accounts.user("alice").unwrap().devices[&laptop.device].revoked_ns,
        Some(T0 + 5)
    );
    let err = store
        .modify(|a| a.revoke("alice", "0123456789abcdef", T0))
        .unwrap_err();
    assert!(matches!(err, AccountError::NoSuchDevice { .. }), "{err}");
}

#[test]
fn passwd_changes_the_password_and_keeps_devices() {
    let (_dir, store) = alice();
    let laptop = login(&store, "laptop");
    store
        .modify(|a| a.set_password("alice", "battery staple"))
        .unwrap();
    assert!(matches!(
        store.modify(|a| a.login("alice", "correct horse", "x", T0)),
        Err(AccountError::WrongPassword)
    ));
    store
        .modify(|a| a.login("alice", "battery staple", "phone", T0))
        .unwrap();
    assert!(store.read().unwrap().authenticate(&laptop.token).is_some());
    assert!(matches!(
        store.modify(|a| a.set_password("bob", "battery staple")),
        Err(AccountError::NoSuchUser(_))
    ));
}

#[test]
fn bad_input_changes_nothing() {
    let (_dir, store) = alice();
    let before = std::fs::read(store.path()).unwrap();
    let attempts: Vec<(&str, Change)> = vec![
        (
            "duplicate",
            Box::new(|a| a.add_user("alice", "another one", T0)),
        ),
        ("short", Box::new(|a| a.add_user("bob", "short", T0))),
        (
            "bad name",
            Box::new(|a| a.add_user("../bob", "long enough", T0)),
        ),
        (
            "huge",
            Box::new(|a| a.add_user("bob", &"x".repeat(MAX_PASSWORD_BYTES + 1), T0)),
        ),
        (
            "short passwd",
            Box::new(|a| a.set_password("alice", "1234567")),
        ),
    ];
    for (what, change) in attempts {
        let err = store.modify(change).unwrap_err();
        assert!(!err.to_string().is_empty(), "{what}");
        assert_eq!(std::fs::read(store.path()).unwrap(), before, "{what}");
    }
}

#[test]
fn a_damaged_or_newer_file_is_refused_with_its_name() {
    let (_dir, store) = store();
    std::fs::write(store.path(), b"{ not json").unwrap();
    let err = store.read().unwrap_err();
    assert!(matches!(err, AccountError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("accounts.json"), "{err}");
    assert!(
        store
            .modify(|a| a.add_user("alice", "correct horse", T0))
            .is_err()
    );
    assert_eq!(std::fs::read(store.path()).unwrap(), b"{ not json");

    std::fs::write(store.path(), br#"{"format": 2, "users": {}}"#).unwrap();
    let err = store.read().unwrap_err();
    assert!(
        matches!(err, AccountError::NewerFormat { found: 2, .. }),
        "{err}"
    );
}

#[test]
fn concurrent_changes_under_the_lock_lose_none() {
    let (_dir, store) = store();
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..3 {
                    store
                        .modify(|a| a.add_user(&format!("user-{t}-{i}"), "long enough", T0))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(store.read().unwrap().users().count(), 12);
}
