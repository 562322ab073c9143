//! The client-side splitter of an interleaved RTSP byte stream, over
//! arbitrary bytes, advancing frame by frame as a reader does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xlgw_rtsp::{FrameParser, InterleavedFrame, interleaved_frame_len};

fuzz_target!(|data: &[u8]| {
    // Both splitters must agree on `$` frames.
    let mut buf = data;
    while let Some((_ch, n)) = interleaved_frame_len(buf) {
        assert!(n >= 4 && n <= buf.len());
        buf = &buf[n..];
    }

    let mut buf = data;
    for _ in 0..=data.len() {
        match FrameParser::next(buf) {
            Ok(Some((frame, n))) => {
                assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                match frame {
                    InterleavedFrame::Data(ch, payload) => {
                        assert_eq!(interleaved_frame_len(buf), Some((ch, n)));
                        assert_eq!(payload.len() + 4, n);
                    }
                    InterleavedFrame::Rtsp(text) => {
                        assert_eq!(text.len(), n);
                        assert!(n <= 64 * 1024 + 64 * 1024 + 4);
                    }
                }
                buf = &buf[n..];
            }
            Ok(None) | Err(()) => break,
        }
    }
});
