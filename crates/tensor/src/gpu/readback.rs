//! Reading device memory back without stalling the device.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::pool::PooledBuffer;
use crate::{Element, Result, TensorError};

const WAITING: u8 = 0;
const MAPPED: u8 = 1;
const FAILED: u8 = 2;

/// A copy of a buffer on its way to the host. [`Readback::try_take`] never blocks; [`Readback::wait`] does.
pub struct Readback<T> {
    state: State<T>,
}

enum State<T> {
    Ready(Vec<T>),
    Pending {
        device: wgpu::Device,
        staging: Arc<PooledBuffer>,
        len: usize,
        status: Arc<AtomicU8>,
        failure: Arc<Mutex<Option<String>>>,
    },
    Taken,
}

impl<T: Element> Readback<T> {
    /// A readback whose data is already on the host (the CPU backend).
    pub fn ready(data: Vec<T>) -> Self {
        Readback {
            state: State::Ready(data),
        }
    }

    pub(crate) fn pending(
        device: wgpu::Device,
        staging: Arc<PooledBuffer>,
        len: usize,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Self {
        let status = Arc::new(AtomicU8::new(WAITING));
        let done = status.clone();
        staging
            .buffer
            .map_async(wgpu::MapMode::Read, .., move |result| {
                done.store(
                    if result.is_ok() { MAPPED } else { FAILED },
                    Ordering::Release,
                );
            });
        Readback {
            state: State::Pending {
                device,
                staging,
                len,
                status,
                failure,
            },
        }
    }

    /// The data, if it has arrived; `Ok(None)` while it is still on its way. Returns the data once.
    pub fn try_take(&mut self) -> Result<Option<Vec<T>>> {
        if let State::Pending { device, .. } = &self.state {
            // Lets the map callback run; does not wait.
            let _ = device.poll(wgpu::PollType::Poll);
        }
        self.take_if_done()
    }

    /// Waits for the data.
    pub fn wait(mut self) -> Result<Vec<T>> {
        if let State::Pending { device, .. } = &self.state {
            device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| TensorError::Device {
                    device: "gpu".into(),
                    detail: e.to_string(),
                })?;
        }
        self.take_if_done()?.ok_or_else(|| TensorError::Device {
            device: "gpu".into(),
            detail: "readback did not complete after waiting for the device".into(),
        })
    }

    fn take_if_done(&mut self) -> Result<Option<Vec<T>>> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Ready(data) => Ok(Some(data)),
            State::Taken => Ok(None),
            State::Pending {
                device,
                staging,
                len,
                status,
                failure,
            } => match status.load(Ordering::Acquire) {
                WAITING => {
                    self.state = State::Pending {
                        device,
                        staging,
                        len,
                        status,
                        failure,
                    };
                    Ok(None)
                }
                MAPPED => {
                    let data = {
                        let view = staging.buffer.get_mapped_range(..).map_err(|e| {
                            TensorError::Device {
                                device: "gpu".into(),
                                detail: e.to_string(),
                            }
                        })?;
                        let bytes = len * std::mem::size_of::<T>();
                        bytemuck::pod_collect_to_vec::<u8, T>(&view[..bytes])
                    };
                    staging.buffer.unmap();
                    Ok(Some(data))
                }
                _ => Err(TensorError::Device {
                    device: "gpu".into(),
                    detail: failure
                        .lock()
                        .ok()
                        .and_then(|mut f| f.take())
                        .unwrap_or_else(|| "mapping a readback buffer failed".into()),
                }),
            },
        }
    }
}

impl<T> Drop for Readback<T> {
    fn drop(&mut self) {
        // A readback dropped before it was taken still has its staging buffer mapped or being mapped; unmap
        // it (which cancels a pending map) so that the pool hands out only unmapped buffers.
        if let State::Pending { staging, .. } = &self.state {
            staging.buffer.unmap();
        }
    }
}
