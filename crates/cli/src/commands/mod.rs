// one module per subcommand
pub mod bench;
pub mod check;
pub mod data;
pub mod device;
pub mod devices;
pub mod download;
pub mod glyphs;
pub mod info;
pub mod plot;
pub mod prepare;
pub mod show;
