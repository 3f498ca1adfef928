// one module per subcommand
pub mod bench;
pub mod bench_train;
pub mod check;
pub mod data;
pub mod device;
pub mod devices;
pub mod download;
pub mod eval;
pub mod glyphs;
pub mod info;
pub mod plot;
pub mod predict;
pub mod prepare;
pub mod show;
pub mod train;
