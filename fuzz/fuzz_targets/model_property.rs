//! The `startup` and group-`nodes` property-string parsers and `Sid`: never a panic, and every parsed
//! value formats to text that parses back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pveha_model::{NodePriorities, Sid, Startup};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = text.parse::<Startup>() {
        let shown = s.to_string();
        assert_eq!(
            shown.parse::<Startup>().ok(),
            Some(s),
            "startup {text:?} formats as {shown:?}"
        );
        assert_eq!(s.is_empty(), shown.is_empty());
    }
    if let Ok(n) = text.parse::<NodePriorities>() {
        let shown = n.to_string();
        assert_eq!(
            shown.parse::<NodePriorities>().as_ref(),
            Ok(&n),
            "nodes {text:?} format as {shown:?}"
        );
    }
    if let Ok(sid) = text.parse::<Sid>() {
        assert_eq!(
            sid.to_string(),
            text,
            "a sid parses only from its canonical spelling"
        );
    }
});
