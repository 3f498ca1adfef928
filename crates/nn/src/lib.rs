//! `digits-nn`: layers, models as graphs ([`Sequential`]), the softmax cross-entropy loss, Adam and SGD, Keras-style
//! callbacks, safetensors model files, checkpoints and the training loop, on any [`digits_tensor::Ops`]
//! backend ([`digits_tensor::Cpu`] or [`digits_tensor::Gpu`]).
//!
//! # Public API
//!
//! ```text
//! // ---- model descriptions (spec.rs, layers/) ---------------------------------------------------
//! pub struct ModelSpec { pub name: String, pub input: [usize; 3] /* [channels, height, width] */,
//!                        pub classes: usize, pub normalization: Normalization, pub layers: Vec<NodeSpec> }
//! impl ModelSpec {
//!     pub const PRESETS: &[&str] = &["tutorial", "mlp", "resnet", "inception"];
//!     pub fn preset(name: &str) -> Result<ModelSpec>;            // NnError::UnknownPreset
//!     pub fn from_file(path: &Path) -> Result<ModelSpec>;        // .toml or .json; errors name the file
//!     pub fn from_toml_str(text: &str, origin: &str) -> Result<ModelSpec>;
//!     pub fn from_json_str(text: &str, origin: &str) -> Result<ModelSpec>;
//!     pub fn resolve(name_or_path: &str) -> Result<ModelSpec>;  // a preset name, else a file path
//!     pub fn shapes(&self) -> Result<Vec<Vec<usize>>>;           // the input's, then each node's output (validates)
//!     pub fn param_count(&self) -> Result<usize>;                // trainable, as PyTorch's parameters() counts
//!     pub fn is_graph(&self) -> bool;                            // some node names its inputs
//!     pub fn summary(&self) -> Result<String>;                   // Keras-like table (and what each node reads)
//!     pub fn architecture(&self) -> String;                      // one line: input [1, 28, 28] → conv2d(32, 3x3, relu) → …
//!     pub fn to_json(&self) -> String; pub fn to_toml(&self) -> String;
//! }
//! pub struct NodeSpec { pub name: Option<String>, pub inputs: Vec<String> /*empty: the node before*/, pub layer: LayerSpec }
//! pub enum LayerSpec {                                          // serde: tagged by `type`, snake_case
//!     Conv2d(Conv2dSpec), MaxPool2d(MaxPool2dSpec), AvgPool2d(AvgPool2dSpec), Flatten, Dense(DenseSpec), Dropout(DropoutSpec), Relu,
//!     Add, GlobalAvgPool2d, BatchNorm(BatchNormSpec), Concat,
//! }
//! pub struct Conv2dSpec { pub filters, pub kernel, pub stride /*1*/, pub padding: Padding /*valid*/,
//!                         pub activation: Activation /*none*/, pub bias: bool /*true*/ }
//! pub struct MaxPool2dSpec { pub pool, pub stride: Option<usize> /*= pool*/, pub padding /*0*/ }
//! pub struct AvgPool2dSpec { same fields }                  // zeros padding count in the mean (PyTorch's default)
//! pub struct DenseSpec { pub units, pub activation }   pub struct DropoutSpec { pub rate: f32 }
//! pub struct BatchNormSpec { pub style: BatchNormStyle /*pytorch*/, pub momentum: Option<f32>, pub eps: Option<f32> }
//! pub enum Padding { Valid, Same }   pub enum Activation { None, Relu }   pub enum BatchNormStyle { Pytorch, Keras }
//! pub struct Normalization { pub mean: f32, pub std: f32 }      // input = (pixel/255 - mean) / std;
//!     // Normalization::UNIT (0, 1: the Keras tutorial's x/255, the default), Normalization::MNIST (0.1307, 0.3081)
//! pub const MAX_LAYERS, MAX_PARAMS, MAX_ACTIVATION, MAX_WORKSPACE_BYTES: usize; // checked before allocating
//!
//! // ---- models (model.rs) -------------------------------------------------------------------------
//! pub struct Sequential<B: Ops>;
//! impl<B: Ops> Sequential<B> {
//!     pub fn new(backend: &B, spec: ModelSpec, seed: u64) -> Result<Self>;  // Glorot-uniform weights, zero biases
//!     pub fn load(backend: &B, path: &Path) -> Result<Self>;    // a model file (or a checkpoint) written by save
//!     pub fn from_bytes(backend: &B, bytes: &[u8], origin: &Path) -> Result<Self>;
//!     pub fn save(&self, path: &Path) -> Result<()>;             // safetensors, written atomically
//!     pub fn load_weights(&mut self, path: &Path) -> Result<()>; // same architecture required (typed errors)
//!     pub fn spec(&self) -> &ModelSpec; pub fn backend(&self) -> &B; pub fn param_count(&self) -> usize;
//!     pub fn weights(&self) -> Result<Vec<NamedTensor>>;         // host copies, PyTorch names and layouts
//!     pub fn running_state(&self) -> Result<Vec<NamedTensor>>;   // BatchNorm running_mean/var, likewise
//!     pub fn batches_tracked(&self) -> u64;                       // training batches seen (num_batches_tracked)
//!     pub fn evaluate(&mut self, data: &DeviceDataset<B>, options: &EvalOptions) -> Result<Evaluation>;
//!     pub fn predict(&mut self, pixels: &[u8]) -> Result<Predictions>; // images, u8, input-sized each
//! }
//! pub struct NamedTensor { pub name: String, pub shape: Vec<usize>, pub data: Vec<f32> }
//! pub struct EvalOptions { pub batch_size: usize /*1000*/, pub probabilities: bool /*false*/ }
//! pub struct Evaluation { pub samples: usize, pub loss: f32, pub accuracy: f32,
//!                         pub predictions: Vec<u32> /*argmax per sample*/,
//!                         pub probabilities: Option<Vec<f32>> /*samples × classes, row-major*/ }
//! pub struct Predictions { pub classes: usize, pub predictions: Vec<u32>, pub probabilities: Vec<f32> }
//!
//! // ---- data on the device (data.rs) --------------------------------------------------------------
//! pub struct DeviceDataset<B: Backend>;                         // u8 pixels + u8 labels, uploaded once
//! impl<B: Backend> DeviceDataset<B> {
//!     pub fn upload(backend: &B, images: &digits_idx::LabelledImages) -> Result<Self>;
//!     pub fn len(&self) -> usize; pub fn is_empty(&self) -> bool; pub fn rows(&self) -> usize; pub fn cols(&self) -> usize;
//!     pub fn labels(&self) -> &[u8];                             // host copy, for confusion matrices
//! }
//!
//! // ---- training (train.rs, optim.rs, callbacks.rs) -----------------------------------------------
//! pub enum OptimizerConfig { Adam { lr: f32, beta1: f32, beta2: f32, epsilon: f32, weight_decay: f32 /*AdamW*/ },
//!                            Rmsprop { lr, rho, epsilon }, Adadelta { lr, rho, epsilon },
//!                            Nadam { lr, beta1, beta2, epsilon }, Sgd { lr: f32, momentum: f32, nesterov: bool } }
//!     // Default = Keras Adam (1e-3, 0.9, 0.999, 1e-7); OptimizerConfig::adam(lr),
//!     // ::adamw(lr, weight_decay), ::adam_with(lr, beta1, beta2, weight_decay), ::rmsprop(lr, rho),
//!     // ::adadelta(lr, rho), ::nadam(lr, beta1, beta2), ::sgd(lr, momentum); .lr()
//! pub struct AugmentConfig { pub max_rotation_degrees: f32, pub max_shift: f32, pub max_zoom: f32 }
//! pub struct TrainConfig { pub epochs: usize /*15*/, pub batch_size: usize /*64*/, pub seed: u64 /*0*/,
//!                          pub optimizer: OptimizerConfig, pub augment: Option<AugmentConfig>,
//!                          pub progress_every: usize /*20 steps*/, pub eval_batch_size: usize /*1000*/,
//!                          pub callbacks: Vec<Callback>, pub schedule: Schedule /*Constant*/,
//!                          pub label_smoothing: f32 /*0; training loss only*/,
//!                          pub ema: Option<f32> /*decay of the weights' average*/ } // Default; serde
//! pub enum Schedule { Constant, OneCycle { pct_start, div_factor, final_div_factor, cycle_momentum,
//!                     base_momentum, max_momentum }, Cosine { warmup_steps, min_factor } }
//!     // per step: Schedule::one_cycle() (PyTorch's OneCycleLR defaults); .at(step, total) -> ScheduleStep
//! pub struct ScheduleStep { pub lr_factor: f64, pub momentum: Option<f64> /*replaces Adam's β1*/ }
//! pub struct Recipe { pub about, pub epochs, pub batch_size, pub lr, pub beta1, pub beta2, pub schedule,
//!                     pub lr_decay, pub validation_split, pub augment, pub label_smoothing, pub ema }
//!     // all Option; ModelSpec.recipe
//! pub struct Progress { pub epoch: usize /*1-based*/, pub epochs: usize, pub step: usize /*steps done*/,
//!                       pub steps: usize, pub samples: usize /*seen this epoch*/, pub total: usize,
//!                       pub loss: f32 /*running mean*/, pub accuracy: f32 /*running*/,
//!                       pub lr: f32 /*newest step's*/ }
//! pub struct EpochStats { pub epoch: usize /*1-based*/, pub loss: f32, pub accuracy: f32,
//!                         pub val_loss: Option<f32>, pub val_accuracy: Option<f32>,
//!                         pub seconds: f64, pub samples_per_second: f64, pub lr: f32 /*of its last step*/ }
//! pub enum StopReason { Completed, EarlyStopping { epoch: usize } }
//! pub struct Trainer<B: Ops>;
//! impl<B: Ops> Trainer<B> {
//!     pub fn new(model: Sequential<B>, config: TrainConfig, train: &LabelledImages,
//!                validation: Option<&LabelledImages>) -> Result<Self>;
//!     pub fn resume(backend: &B, checkpoint: &Path, train: &LabelledImages,
//!                   validation: Option<&LabelledImages>) -> Result<Self>; // config, weights, optimizer, callbacks
//!     pub fn run_epoch(&mut self, progress: &mut dyn FnMut(&Progress)) -> Result<EpochStats>;
//!         // progress is called every `progress_every` steps (async readback, never blocks) and at epoch end
//!     pub fn fit(&mut self, checkpoint: Option<&Path>, progress: &mut dyn FnMut(&Progress),
//!                on_epoch: &mut dyn FnMut(&EpochStats)) -> Result<()>;  // run_epoch until finished,
//!                                                                         // checkpointing after each epoch
//!     pub fn is_finished(&self) -> bool; pub fn stop_reason(&self) -> Option<StopReason>;
//!     pub fn epochs_done(&self) -> usize; pub fn set_epochs(&mut self, epochs: usize);
//!     pub fn history(&self) -> &[EpochStats]; pub fn lr(&self) -> f32; pub fn config(&self) -> &TrainConfig;
//!     pub fn model(&self) -> &Sequential<B>; pub fn model_mut(&mut self) -> &mut Sequential<B>;
//!     pub fn save_checkpoint(&self, path: &Path) -> Result<()>;  // atomic; model + optimizer + history + callbacks
//!     pub fn finish(self) -> Result<(Sequential<B>, Vec<EpochStats>)>; // applies restore_best_weights
//!     // lower level (benchmarks, tests): one step = one submit, no readback
//!     pub fn begin_epoch(&mut self) -> Result<()>; pub fn step(&mut self) -> Result<bool /*false: epoch done*/>;
//!     pub fn steps_per_epoch(&self) -> usize; pub fn running_stats(&self) -> Result<(f64 /*loss sum*/, f64 /*correct*/, usize /*samples*/)>;
//!     pub fn end_epoch(&mut self) -> Result<EpochStats>;          // validation + callbacks + history
//! }
//! pub enum Callback { ReduceLrOnPlateau(ReduceLrOnPlateau), EarlyStopping(EarlyStopping),
//!                     ExponentialDecay(ExponentialDecay) }       // serde; state is checkpointed
//! pub struct ReduceLrOnPlateau { pub monitor: Monitor, pub factor: f64, pub patience: usize, pub min_delta: f64,
//!                                pub cooldown: usize, pub min_lr: f64, pub mode: Mode, pub state: PlateauState }
//!     // ReduceLrOnPlateau::default() = Keras (val_loss, 0.1, 10, 1e-4, 0, 0, auto); build with
//!     // ReduceLrOnPlateau { patience: 3, ..Default::default() }
//!     // pub fn on_epoch_end(&mut self, stats: &EpochStats, lr: f32) -> f32  (the new lr)
//! pub struct EarlyStopping { pub monitor: Monitor, pub min_delta: f64, pub patience: usize, pub mode: Mode,
//!                            pub baseline: Option<f64>, pub restore_best_weights: bool,
//!                            pub start_from_epoch: usize, pub state: EarlyStoppingState }  // Default = Keras
//!     // pub fn on_epoch_end(&mut self, epoch0: usize, stats: &EpochStats) -> EarlyStoppingAction { snapshot, stop }
//!     // pub fn best_epoch(&self) -> usize; pub fn stopped_epoch(&self) -> Option<usize>   (0-based)
//! pub struct ExponentialDecay { pub initial_lr: f32, pub rate: f32 }  // lr = initial · rate^epoch0, at epoch begin
//! pub enum Monitor { Loss, Accuracy, ValLoss, ValAccuracy }    // serde/FromStr/Display: "loss", "accuracy", "val_loss", ...
//! pub enum Mode { Auto, Min, Max }
//!
//! // ---- errors (error.rs) -------------------------------------------------------------------------
//! pub enum NnError { Tensor(TensorError), Spec { origin, detail }, UnknownPreset { name, known },
//!                    Io { path, action, source }, Corrupt { path, detail }, Architecture { path, expected, found },
//!                    MissingTensor { path, tensor }, TensorShape { path, tensor, expected, found },
//!                    Data(String), Config(String), Checkpoint { path, detail } }
//! pub type Result<T, E = NnError> = std::result::Result<T, E>;
//! ```
//!
//! # Model files
//!
//! A model file is safetensors: f32 tensors named and laid out as PyTorch names them in the equivalent
//! `torch.nn.Sequential`, and the architecture (the [`ModelSpec`], normalisation included) as JSON in the
//! metadata key `digits.model`. Each layer of the description takes the `nn.Sequential` indices of the
//! modules it stands for: a `conv2d` or `dense` with `activation = "relu"` is two modules (`Conv2d`/`Linear`,
//! then `ReLU`), every other layer one. The tutorial network
//! `Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, Linear, ReLU, Dropout, Linear` therefore holds
//! `0.weight [32,1,3,3]`, `0.bias [32]`, `3.weight [64,32,3,3]`, `3.bias [64]`, `7.weight [128,1600]`,
//! `7.bias [128]`, `10.weight [10,128]`, `10.bias [10]`; convolution weights are `[out, in, kh, kw]`, dense
//! weights `[out, in]`, and `Flatten` flattens NCHW, so `model.load_state_dict` takes the tensors unchanged.
//!
//! A node given a `name` names its tensors by it instead (`block1.conv.weight`), as a PyTorch module holding
//! submodules of those names would. A `batch_norm` holds `weight` (gamma), `bias` (beta), `running_mean`,
//! `running_var` and `num_batches_tracked` (an int64 scalar, the training batches it has seen), the five
//! tensors of PyTorch's `BatchNorm2d`/`BatchNorm1d`, so a strict `load_state_dict` accepts the file.
//!
//! # Reproducibility
//!
//! Every source of randomness is a pure function of the seed and the position in training: weights of
//! (seed, layer), the epoch's shuffle of (seed, epoch), dropout masks and augmentation of (seed, global step).
//! A run resumed from a checkpoint therefore ends with the same weights as an uninterrupted run on the same
//! device, and the CPU and GPU backends start from identical weights.

mod callbacks;
mod checkpoint;
mod data;
mod error;
mod file;
mod graph;
mod init;
mod layers;
mod model;
mod onnx;
mod optim;
mod prune;
mod recipe;
mod schedule;
mod spec;
mod train;
mod web_plan;

pub use callbacks::{
    Callback, EarlyStopping, EarlyStoppingAction, EarlyStoppingState, ExponentialDecay, Mode,
    Monitor, PlateauState, ReduceLrOnPlateau,
};
pub use data::DeviceDataset;
pub use error::{NnError, Result};
pub use graph::MAX_WORKSPACE_BYTES;
pub use layers::{
    Activation, AvgPool2dSpec, BatchNormSpec, BatchNormStyle, Conv2dSpec, DenseSpec, DropoutSpec,
    LayerSpec, MaxPool2dSpec, Padding,
};
pub use model::{EvalOptions, Evaluation, NamedTensor, Predictions, Sequential};
pub use onnx::{OPSET as ONNX_OPSET, OnnxOptions};
pub use optim::OptimizerConfig;
pub use prune::{PruneConfig, PruneScope, TensorSparsity};
pub use recipe::Recipe;
pub use schedule::{Schedule, ScheduleStep};
pub use spec::{InitScheme, MAX_ACTIVATION, MAX_LAYERS, MAX_PARAMS, ModelSpec, Normalization};
pub use train::{
    AugmentConfig, DistillConfig, EpochStats, Progress, StopReason, TrainConfig, Trainer,
};
pub use web_plan::WebPlan;
