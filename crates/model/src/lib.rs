//! Domain types of the Xueliang Gateway: five-level area codes, GB/T 28181
//! device ids, camera descriptions and their validation.
//!
//! This crate does no I/O of any kind (no files, no sockets, no clocks) and
//! depends on no other crate of the workspace. Everything here is pure data
//! and validation, so every other crate can use it freely.

mod area;
mod camera;
mod device;

pub use area::{AreaCode, AreaError, Level};
pub use camera::{Camera, CameraError, Credentials, Mode, Transport, validate_url};
pub use device::{DeviceId, DeviceIdError, DeviceType};
