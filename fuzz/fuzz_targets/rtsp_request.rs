//! The server's request splitter over arbitrary client bytes, consumed as
//! `conn.rs` does: advance on every complete message, stop where the
//! server would wait or close the connection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xlgw_rtsp::{MAX_REQUEST_BYTES, Next, next_message, parse_path};

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    // Every step consumes at least one byte, so this terminates; the bound
    // only guards against a regression that would consume nothing.
    for _ in 0..=data.len() {
        match next_message(buf) {
            Next::Request(req, consumed) => {
                assert!(consumed > 0 && consumed <= buf.len(), "consumed {consumed}");
                assert!(
                    consumed <= MAX_REQUEST_BYTES + 1,
                    "request of {consumed} bytes"
                );
                if let Some(uri) = req.request_uri()
                    && let Some((path, _track)) = parse_path(uri)
                {
                    assert!(!path.is_empty());
                    assert!(!path.contains('/'));
                }
                buf = &buf[consumed..];
            }
            Next::Interleaved { consumed, .. } | Next::Response(consumed) => {
                assert!(consumed > 0 && consumed <= buf.len(), "consumed {consumed}");
                buf = &buf[consumed..];
            }
            Next::Incomplete | Next::TooLarge | Next::Invalid => break,
        }
    }
});
