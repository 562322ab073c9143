//! Keyframe detection and fmtp parameter-set handling on arbitrary input.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use xlgw_relay::Codec;
use xlgw_relay::codec::{fmtp_with_params, inspect, params_from_fmtp};

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    for codec in [Codec::H264, Codec::H265] {
        let i = inspect(codec, &payload);
        for ps in [&i.params.vps, &i.params.sps, &i.params.pps]
            .into_iter()
            .flatten()
        {
            assert!(!ps.is_empty() && ps.len() <= data.len());
        }
    }

    let text = String::from_utf8_lossy(data);
    for codec in [Codec::H264, Codec::H265, Codec::Aac] {
        let ps = params_from_fmtp(codec, &text);
        if let Some(line) = fmtp_with_params(codec, Some(&text), &ps) {
            // What we write must read back the same parameter sets.
            if codec != Codec::Aac {
                assert_eq!(params_from_fmtp(codec, &line), ps, "line {line:?}");
            }
        }
        let _ = fmtp_with_params(codec, None, &ps);
    }
});
