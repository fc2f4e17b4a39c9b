//! Training throughput of one MLP on each device Kiln can use: Burn's flex (CPU) backend and
//! wgpu (a real GPU, or Mesa's lavapipe where there is none). Prints samples per second for a
//! fixed model and step count, so devices and machines can be compared.
//!
//! `cargo bench -p kiln-core --bench train_throughput [-- STEPS [BATCH [HIDDEN]]]` (default 200
//! Adam steps of a 512 -> 128 -> 10 MLP, batch 256).

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use kiln_core::rng::SeededRng;
use kiln_core::train::{
    Activation, Architecture, Classifier, DevicePreference, ModelFamily, probe_adapters,
    select_device,
};

const INPUTS: usize = 512;
const CLASSES: usize = 10;

fn main() {
    // Numbers only: cargo passes `--bench` too.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, default: usize| numbers.get(i).copied().unwrap_or(default);
    let shape = Shape {
        steps: arg(0, 200),
        batch: arg(1, 256),
        hidden: arg(2, 128),
    };
    println!(
        "MLP {INPUTS} -> {} -> {CLASSES}, batch {}, {} Adam steps",
        shape.hidden, shape.batch, shape.steps
    );
    let adapters = probe_adapters();
    println!(
        "adapters: {}",
        if adapters.is_empty() {
            "none".to_string()
        } else {
            adapters
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
    );
    let cpu = select_device(DevicePreference::Cpu, &adapters);
    let flex = throughput(&cpu.device, &shape);
    println!("{:<60} {:>12.0} samples/s", cpu.label, flex);
    let gpu = select_device(DevicePreference::Gpu, &adapters);
    if gpu.wgpu {
        let wgpu = throughput(&gpu.device, &shape);
        println!("{:<60} {:>12.0} samples/s", gpu.label, wgpu);
        println!("ratio wgpu / flex: {:.2}x", wgpu / flex);
    } else {
        println!(
            "wgpu: not measured ({})",
            gpu.notice.map(|n| n.message).unwrap_or_default()
        );
    }
}

#[derive(Clone, Copy)]
struct Shape {
    steps: usize,
    batch: usize,
    hidden: usize,
}

/// Samples per second over `shape.steps` Adam steps, after two warm-up steps.
fn throughput(device: &Device, shape: &Shape) -> f64 {
    let Shape {
        steps,
        batch,
        hidden,
    } = *shape;
    let arch = Architecture {
        family: ModelFamily::Mlp,
        inputs: INPUTS,
        classes: CLASSES,
        hidden: vec![hidden],
        activation: Activation::Relu,
        dropout: 0.0,
    };
    let ad = device.clone().autodiff();
    let mut rng = SeededRng::new(1);
    let mut model = Classifier::init(&arch, &mut rng, &ad);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLoss::new(None, &ad);
    let x: Vec<f32> = (0..batch * INPUTS).map(|_| rng.unit() as f32).collect();
    let y: Vec<i64> = (0..batch).map(|i| (i % CLASSES) as i64).collect();
    let mut started = Instant::now();
    for step in 0..steps + 2 {
        if step == 2 {
            started = Instant::now();
        }
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [batch, INPUTS]), &ad);
        let target = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [batch]), &ad);
        let loss = loss_fn.forward(model.forward(input), target);
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let _ = model.valid();
    (steps * batch) as f64 / started.elapsed().as_secs_f64()
}
