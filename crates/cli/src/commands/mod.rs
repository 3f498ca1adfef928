// one module per subcommand
pub mod data;
pub mod devices;
pub mod download;
pub mod glyphs;
pub mod info;
pub mod show;
