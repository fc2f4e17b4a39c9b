//! Choosing where to train: the GPU through wgpu when there is a real one, the pure-Rust CPU
//! backend (flex) otherwise, and always a record of which device was used.
//!
//! Adapters are probed with wgpu before Burn touches them, because Burn panics on first use when
//! no adapter exists. A software adapter (Mesa's lavapipe or llvmpipe) is not a GPU: on small
//! models flex is many times faster than wgpu on it, so it is used only when forced.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind, Tensor};
use serde::{Deserialize, Serialize};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePreference {
    /// A real GPU if there is one, else the CPU.
    #[default]
    Auto,
    /// wgpu, even on a software adapter; the CPU only if no adapter works at all.
    Gpu,
    /// The CPU (flex).
    Cpu,
}

impl FromStr for DevicePreference {
    type Err = String;

    fn from_str(s: &str) -> Result<DevicePreference, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DevicePreference::Auto),
            "gpu" | "wgpu" => Ok(DevicePreference::Gpu),
            "cpu" | "flex" => Ok(DevicePreference::Cpu),
            other => Err(format!("unknown device {other:?}: use auto, gpu or cpu")),
        }
    }
}

/// One wgpu adapter, as probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    /// A CPU rasteriser such as lavapipe: usable, but not a GPU.
    pub software: bool,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

/// The device a study trains on, what to call it, and why it was chosen.
#[derive(Debug, Clone)]
pub struct TrainingDevice {
    /// The plain device; training uses `device.clone().autodiff()`.
    pub device: Device,
    /// Recorded on every run, for example `wgpu: NVIDIA H200 (Vulkan, DiscreteGpu)`.
    pub label: String,
    /// Whether this is the wgpu path (GPU or software adapter) rather than flex.
    pub wgpu: bool,
    /// A notice for the user when the device is not what they asked for.
    pub notice: Option<DeviceNotice>,
}

/// Why a study trains on another device than the user may expect. Each face adds how to
/// choose otherwise in its own words (a flag, a control).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceNotice {
    pub message: String,
    /// Only a software GPU adapter was found and the CPU was preferred for speed: the user may
    /// still choose the GPU.
    pub gpu_on_request: bool,
}

impl DeviceNotice {
    fn new(message: impl Into<String>) -> DeviceNotice {
        DeviceNotice {
            message: message.into(),
            gpu_on_request: false,
        }
    }
}

impl TrainingDevice {
    /// The CPU backend.
    pub fn cpu(notice: Option<DeviceNotice>) -> TrainingDevice {
        TrainingDevice {
            device: Device::flex(),
            label: "cpu: flex".into(),
            wgpu: false,
            notice,
        }
    }
}

/// Every wgpu adapter on this machine. Never panics: a broken graphics stack gives none.
pub fn probe_adapters() -> Vec<AdapterSummary> {
    // Vulkan drivers print to stderr while they start (Mesa's Wayland support says
    // "XDG_RUNTIME_DIR is invalid" on every machine without a session); Kiln's stderr carries
    // only Kiln's messages.
    // One probe at a time: stderr is the process's, and two probes swapping it would leave it
    // pointing at /dev/null.
    static PROBE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = PROBE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _quiet = QuietStderr::new();
    let probe = std::panic::catch_unwind(|| {
        // The primary backends only: probing GL would try to reach a display server.
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = wgpu::Backends::PRIMARY;
        let instance = wgpu::Instance::new(descriptor);
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
            .into_iter()
            .map(|adapter| {
                let info = adapter.get_info();
                AdapterSummary {
                    software: info.device_type == wgpu::DeviceType::Cpu,
                    name: info.name,
                    backend: format!("{:?}", info.backend),
                    device_type: format!("{:?}", info.device_type),
                }
            })
            .collect::<Vec<_>>()
    });
    probe.unwrap_or_default()
}

/// Picks the device for `preference` from the probed `adapters`, falling back to the CPU with a
/// notice rather than failing.
/// Sends stderr to `/dev/null` until dropped, when the real stderr comes back.
struct QuietStderr {
    #[cfg(unix)]
    saved: Option<std::os::fd::OwnedFd>,
}

impl QuietStderr {
    fn new() -> QuietStderr {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            let saved = std::io::stderr().as_fd().try_clone_to_owned().ok();
            let null = std::fs::File::options().write(true).open("/dev/null");
            let silenced = match (&saved, null) {
                (Some(_), Ok(null)) => rustix::stdio::dup2_stderr(&null).is_ok(),
                _ => false,
            };
            QuietStderr {
                saved: saved.filter(|_| silenced),
            }
        }
        #[cfg(not(unix))]
        QuietStderr {}
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = rustix::stdio::dup2_stderr(saved);
        }
    }
}

pub fn select_device(preference: DevicePreference, adapters: &[AdapterSummary]) -> TrainingDevice {
    let hardware =
        adapters
            .iter()
            .filter(|a| !a.software)
            .min_by_key(|a| match a.device_type.as_str() {
                "DiscreteGpu" => 0,
                "IntegratedGpu" => 1,
                _ => 2,
            });
    let software = adapters.iter().find(|a| a.software);
    match (preference, hardware, software) {
        (DevicePreference::Cpu, _, _) => TrainingDevice::cpu(None),
        (_, Some(gpu), _) => try_wgpu(DeviceKind::DefaultDevice, gpu),
        (DevicePreference::Gpu, None, Some(soft)) => try_wgpu(DeviceKind::Cpu, soft),
        (DevicePreference::Auto, None, Some(soft)) => TrainingDevice::cpu(Some(DeviceNotice {
            message: format!(
                "only a software adapter was found ({soft}); training on the CPU (flex), which is faster than it"
            ),
            gpu_on_request: true,
        })),
        (_, None, None) => TrainingDevice::cpu(Some(DeviceNotice::new(
            "no GPU adapter was found; training on the CPU (flex)",
        ))),
    }
}

/// Makes one small computation on the wgpu device; if the runtime fails (it panics on a
/// missing or lost adapter), falls back to the CPU.
fn try_wgpu(kind: DeviceKind, adapter: &AdapterSummary) -> TrainingDevice {
    let device = Device::wgpu(kind);
    let check = std::panic::catch_unwind(|| {
        let t = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        t.sum().into_scalar::<f32>()
    });
    match check {
        Ok(sum) if (sum - 6.0).abs() < 1e-6 => TrainingDevice {
            device,
            label: format!("wgpu: {adapter}"),
            wgpu: true,
            notice: None,
        },
        Ok(sum) => TrainingDevice::cpu(Some(DeviceNotice::new(format!(
            "the wgpu adapter {adapter} computed 1+2+3 = {sum}; training on the CPU (flex) instead"
        )))),
        Err(_) => TrainingDevice::cpu(Some(DeviceNotice::new(format!(
            "the wgpu adapter {adapter} failed to start; training on the CPU (flex) instead"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "Vulkan".into(),
            device_type: device_type.into(),
            software: device_type == "Cpu",
        }
    }

    #[test]
    fn with_no_adapter_every_preference_falls_back_to_the_cpu_with_a_notice() {
        for preference in [DevicePreference::Auto, DevicePreference::Gpu] {
            let chosen = select_device(preference, &[]);
            assert!(!chosen.wgpu);
            assert_eq!(chosen.label, "cpu: flex");
            assert!(
                chosen
                    .notice
                    .as_ref()
                    .is_some_and(|n| n.message.contains("no GPU adapter") && !n.gpu_on_request),
                "{:?}",
                chosen.notice
            );
            // And it trains: a computation on the fallback device works.
            let t = Tensor::<1>::from_floats([2.0, 3.0], &chosen.device);
            assert_eq!(t.sum().into_scalar::<f32>(), 5.0);
        }
        assert!(select_device(DevicePreference::Cpu, &[]).notice.is_none());
    }

    #[test]
    fn a_software_adapter_is_not_a_gpu_unless_forced() {
        let lavapipe = [adapter("llvmpipe (LLVM 15.0.7, 256 bits)", "Cpu")];
        let auto = select_device(DevicePreference::Auto, &lavapipe);
        assert!(!auto.wgpu);
        assert!(
            auto.notice
                .as_ref()
                .is_some_and(|n| n.message.contains("software adapter") && n.gpu_on_request)
        );
        assert_eq!(
            select_device(DevicePreference::Cpu, &lavapipe).label,
            "cpu: flex"
        );
    }

    #[test]
    fn preferences_parse_from_the_command_line() {
        assert_eq!("GPU".parse::<DevicePreference>(), Ok(DevicePreference::Gpu));
        assert_eq!("cpu".parse::<DevicePreference>(), Ok(DevicePreference::Cpu));
        assert!("tpu".parse::<DevicePreference>().is_err());
    }
}
