// one module per subcommand
pub mod bench;
pub mod bench_train;
pub mod check;
pub mod data;
pub mod device;
pub mod devices;
pub mod download;
pub mod eval;
pub mod export;
pub mod glyphs;
pub mod info;
pub mod plot;
pub mod predict;
pub mod prune;
pub mod run_folder;
pub mod serve;
pub mod show;
pub mod train;

/// Text taken from files or file names, safe to print: control characters (newlines, terminal escape codes)
/// are shown escaped, as `\n` or `\u{1b}`, so a name cannot rewrite the terminal or forge output lines.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            super::shown("ok\n\u{1b}[2Jnaïve 7"),
            "ok\\n\\u{1b}[2Jnaïve 7"
        );
    }
}
