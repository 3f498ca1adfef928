//! The GPU runtime itself: transfers, views, pooling, asynchronous readback.

mod common;

use digits_tensor::{Backend, TensorError};

#[test]
fn upload_download_round_trips_every_element_type() {
    let Some(gpu) = common::gpu() else { return };
    let floats: Vec<f32> = (0..1001).map(|i| i as f32 * 0.5 - 3.0).collect();
    let bytes: Vec<u8> = (0..1003).map(|i| (i * 7 % 256) as u8).collect();
    let words: Vec<u32> = (0..17).map(|i| i * 1_000_003).collect();
    assert_eq!(gpu.download(&gpu.upload(&floats).unwrap()).unwrap(), floats);
    assert_eq!(gpu.download(&gpu.upload(&bytes).unwrap()).unwrap(), bytes);
    assert_eq!(gpu.download(&gpu.upload(&words).unwrap()).unwrap(), words);
}

#[test]
fn zeros_are_zero_even_from_a_reused_pool_buffer() {
    let Some(gpu) = common::gpu() else { return };
    drop(gpu.upload(&vec![7.0f32; 4096]).unwrap());
    let zeros = gpu.zeros::<f32>(4096).unwrap();
    assert!(gpu.download(&zeros).unwrap().iter().all(|&x| x == 0.0));
}

#[test]
fn views_read_and_write_their_own_range() {
    let Some(gpu) = common::gpu() else { return };
    let align = gpu.view_alignment::<f32>();
    let buf = gpu.upload(&vec![1.0f32; 3 * align]).unwrap();
    let middle = gpu.slice(&buf, align, align).unwrap();
    gpu.write(&middle, &vec![2.0f32; align]).unwrap();
    let all = gpu.download(&buf).unwrap();
    assert!(all[..align].iter().all(|&x| x == 1.0));
    assert!(all[align..2 * align].iter().all(|&x| x == 2.0));
    assert!(all[2 * align..].iter().all(|&x| x == 1.0));
    if align > 1 {
        assert!(matches!(
            gpu.slice(&buf, 1, 4),
            Err(TensorError::Shape { .. })
        ));
    }
    assert!(matches!(
        gpu.slice(&buf, 2 * align, 2 * align),
        Err(TensorError::Shape { .. })
    ));
}

#[test]
fn asynchronous_readback_arrives_and_a_dropped_one_leaves_the_pool_usable() {
    let Some(gpu) = common::gpu() else { return };
    let data: Vec<f32> = (0..300).map(|i| i as f32).collect();
    let buf = gpu.upload(&data).unwrap();
    // Dropped before it arrives: its staging buffer must go back to the pool unmapped.
    drop(gpu.download_async(&buf).unwrap());
    let mut pending = gpu.download_async(&buf).unwrap();
    let mut got = None;
    for _ in 0..10_000 {
        if let Some(values) = pending.try_take().unwrap() {
            got = Some(values);
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    assert_eq!(got.expect("readback arrived"), data);
    // Reuses the pooled staging buffers of both readbacks above.
    assert_eq!(gpu.download(&buf).unwrap(), data);
    assert_eq!(gpu.download(&buf).unwrap(), data);
    gpu.synchronize().unwrap();
}
