//! The command families: one file per family (or a file plus a folder of the same name where
//! a family has helpers of its own, as `keys/` and `zsets/`), each with its table of
//! [`Command`] entries beside the handlers.
//!
//! The import rule (checked by `family_files_import_no_other_family` below): a family may
//! use the machinery (`commands::{table, dispatch, args, error, meta, unblock}` and the
//! items `commands/mod.rs` re-exports), the shared helpers (`commands::shared`), and the
//! layers below (`storage`, `server`, `persistence`, `config`, `util`, `stats`); never
//! another family. Code that two families need moves to `commands/shared/`.
//!
//! Adding a family: add its module here and its table to [`tables`].

pub mod acl;
pub mod bitmaps;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod command;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod expire;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

use super::Command;

/// Every family's table, in the order COMMAND lists them.
pub fn tables() -> [&'static [Command]; 29] {
    [
        memory::COMMANDS,
        client::COMMANDS,
        strings::COMMANDS,
        bitmaps::COMMANDS,
        hyperloglog::COMMANDS,
        hashes::COMMANDS,
        lists::COMMANDS,
        blocking::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        geo::COMMANDS,
        sort::COMMANDS,
        persistence::COMMANDS,
        keys::COMMANDS,
        expire::COMMANDS,
        connection::COMMANDS,
        server::COMMANDS,
        transactions::COMMANDS,
        command::COMMANDS,
        debug::COMMANDS,
        dump::COMMANDS,
        scripting::COMMANDS,
        functions::COMMANDS,
        pubsub::COMMANDS,
        cluster::COMMANDS,
        streams::COMMANDS,
        stream_groups::COMMANDS,
        acl::COMMANDS,
        replication::COMMANDS,
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The family modules, by file stem (a family's folder holds its own helpers).
    fn family_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("families/ is readable")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".rs")
                    .filter(|n| *n != "mod")
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        names
    }

    /// Every `.rs` file of a family: its file and, if any, the files of its folder.
    fn family_files(dir: &Path, family: &str) -> Vec<std::path::PathBuf> {
        let mut files = vec![dir.join(format!("{family}.rs"))];
        if let Ok(entries) = std::fs::read_dir(dir.join(family)) {
            files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
        files
    }

    /// The other families that `text` (a file of `family`) names in a path. `top_level`:
    /// the file sits directly in `families/`, where `super::` is `families`.
    fn other_families_used(
        family: &str,
        text: &str,
        families: &[String],
        top_level: bool,
    ) -> Vec<String> {
        families
            .iter()
            .filter(|other| *other != family)
            .filter(|other| {
                let mut paths = vec![
                    format!("families::{other}::"),
                    format!("families::{other};"),
                    format!("families::{{{other}"),
                    format!("super::super::{other}::"),
                ];
                if top_level {
                    paths.push(format!("super::{other}::"));
                    paths.push(format!("super::{{{other}"));
                }
                paths.iter().any(|p| text.contains(p.as_str()))
            })
            .cloned()
            .collect()
    }

    #[test]
    fn family_files_import_no_other_family() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands/families");
        let families = family_names(&dir);
        assert!(families.len() >= 19, "families found: {families:?}");
        let mut violations = Vec::new();
        for family in &families {
            for file in family_files(&dir, family) {
                let text = std::fs::read_to_string(&file).expect("family file is readable");
                let top_level = file.parent() == Some(dir.as_path());
                for other in other_families_used(family, &text, &families, top_level) {
                    violations.push(format!("{} uses family {other}", file.display()));
                }
            }
        }
        assert!(
            violations.is_empty(),
            "a family may not import another (move shared code to commands/shared/):\n{}",
            violations.join("\n")
        );
    }

    #[test]
    fn the_import_check_sees_each_way_of_naming_a_family() {
        let families: Vec<String> = ["lists", "zsets", "blocking"].map(String::from).to_vec();
        let uses = |text: &str, top_level: bool| {
            other_families_used("blocking", text, &families, top_level)
        };
        assert_eq!(
            uses("use crate::commands::families::lists::parse_mpop;", false),
            ["lists"]
        );
        assert_eq!(uses("use super::zsets::parse_zmpop;", true), ["zsets"]);
        assert_eq!(uses("use super::{lists, zsets};", true), ["lists"]);
        assert_eq!(uses("use super::super::zsets::x;", false), ["zsets"]);
        assert!(uses("use crate::commands::shared::pops::parse_mpop;", true).is_empty());
        assert!(uses("use super::blocking::x; // its own", true).is_empty());
    }
}
