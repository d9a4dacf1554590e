//! Links picket-wire into a `no_std` static library, as sensor firmware
//! would. If anything in picket-wire's dependency tree pulled in std, std's
//! own `panic_impl` would collide with the handler below and the build would
//! fail with "duplicate lang item", which is the point of this crate.
#![no_std]

use core::panic::PanicInfo;

use picket_wire::{
    FeedResult, FrameDecoder, Heartbeat, MAX_ENCODED_FRAME_LEN, Message, encode_frame,
};

// Firmware would log and reset here; for a build check, parking is enough.
#[panic_handler]
fn halt(_info: &PanicInfo) -> ! {
    loop {}
}

/// Encodes a heartbeat and decodes it back, returning true on a faithful
/// round trip. Public so the staticlib keeps it and everything it uses.
pub fn heartbeat_round_trip(sensor_time_us: u64, temperature_decicelsius: i16) -> bool {
    let message = Message::Heartbeat(Heartbeat {
        sensor_time_us,
        uptime_s: 1,
        battery_mv: Some(3600),
        temperature_decicelsius,
        tamper: false,
        faults: Default::default(),
    });
    let mut wire = [0u8; MAX_ENCODED_FRAME_LEN];
    let Ok(frame) = encode_frame(&message, &mut wire) else {
        return false;
    };
    let mut decoder: FrameDecoder = FrameDecoder::new();
    match decoder.feed(frame) {
        FeedResult::Frame {
            message: decoded,
            remaining,
        } => decoded == message && remaining.is_empty(),
        FeedResult::Consumed | FeedResult::Error { .. } => false,
    }
}
