//! `pveha drill --observe`: watching a live cluster through an event someone else triggers. Not built yet; the
//! flags are reserved so that scripts written against them keep their meaning.

use super::DrillArgs;

/// Runs `pveha drill --observe`; for now a usage error (exit 2).
pub(crate) fn run(_args: &DrillArgs) -> i32 {
    eprintln!("pveha drill: --observe is not built yet");
    2
}
