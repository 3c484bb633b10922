//! Key and service-name checks, key paths, symlink targets: arbitrary bytes
//! must never panic, and whatever is accepted must be safe as one path
//! component under `$UPD_ROOT`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use upd::tree::key;

fuzz_target!(|data: &[u8]| {
    if key::validate_key(data).is_ok() {
        assert!(!data.is_empty() && data.len() <= key::MAX_KEY);
        assert!(data != b"." && data != b"..");
        assert!(!data.contains(&b'/') && !data.contains(&0));
    } else {
        let e = key::validate_key(data).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
    if key::validate_name(data).is_ok() {
        assert!(key::validate_key(data).is_ok() && data[0] != b'.');
    }
    // Messages stay short and printable whatever the key.
    let shown = key::show(data);
    assert!(shown.len() <= 2 + 4 * 40 + 3);
    assert!(shown.bytes().all(|b| (0x20..0x7f).contains(&b)));
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(parts) = key::split_path(s) {
            assert!(parts
                .iter()
                .all(|k| key::validate_key(k.as_bytes()).is_ok()));
            assert_eq!(parts.join("/"), s);
        }
        // A link target is honoured only in its exact form.
        if let Some((name, target)) = s.split_once('|') {
            if let Some(g) = key::parse_link(name, target.as_bytes()) {
                assert_eq!(target, format!(".{name}/{}", &target[name.len() + 2..]));
                assert_eq!(target[name.len() + 2..].parse::<u64>().ok(), Some(g));
            }
        }
    }
});
