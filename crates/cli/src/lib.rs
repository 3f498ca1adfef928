//! The parts of the `digits` command line that other programs reuse: preparing a picture of a digit as MNIST
//! was made (also the fuzz targets' entry point).

#![warn(missing_docs)]

pub mod prepare;
