//! The `Transport` request header (RFC 2326 §12.39), as far as a server that
//! serves unicast RTP needs it.

/// The transport a client asked for and we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportSpec {
    /// RTP and RTCP interleaved in the RTSP connection on these channels.
    Interleaved { rtp: u8, rtcp: u8 },
    /// RTP and RTCP over UDP to these ports of the client's address.
    Udp { rtp_port: u16, rtcp_port: u16 },
}

/// Picks the first transport in the header that we can serve. `None` means
/// 461 Unsupported Transport.
pub fn parse_transport(header: &str) -> Option<TransportSpec> {
    header.split(',').find_map(parse_one)
}

fn parse_one(spec: &str) -> Option<TransportSpec> {
    let mut parts = spec.split(';').map(str::trim);
    let profile = parts.next()?.to_ascii_uppercase();
    let tcp = match profile.as_str() {
        "RTP/AVP" | "RTP/AVP/UDP" => false,
        "RTP/AVP/TCP" => true,
        _ => return None,
    };
    let mut interleaved = None;
    let mut client_port = None;
    for p in parts {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => (p.to_ascii_lowercase(), ""),
        };
        match k.as_str() {
            "multicast" => return None,
            "interleaved" => interleaved = Some(range::<u8>(v)?),
            "client_port" => client_port = Some(range::<u16>(v)?),
            "mode" => {
                let m = v.trim_matches('"').to_ascii_lowercase();
                if m != "play" {
                    return None;
                }
            }
            _ => {}
        }
    }
    if tcp {
        let (rtp, rtcp) = interleaved.unwrap_or((0, 1));
        Some(TransportSpec::Interleaved { rtp, rtcp })
    } else {
        let (rtp_port, rtcp_port) = client_port?;
        if rtp_port == 0 {
            return None;
        }
        Some(TransportSpec::Udp {
            rtp_port,
            rtcp_port,
        })
    }
}

fn range<T: std::str::FromStr + Copy + TryFrom<u32>>(v: &str) -> Option<(T, T)>
where
    u32: From<T>,
{
    let mut it = v.splitn(2, '-');
    let a: T = it.next()?.trim().parse().ok()?;
    let b: T = match it.next() {
        Some(b) => b.trim().parse().ok()?,
        None => T::try_from(u32::from(a).checked_add(1)?).ok()?,
    };
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_clients() {
        assert_eq!(
            parse_transport("RTP/AVP/TCP;unicast;interleaved=0-1"),
            Some(TransportSpec::Interleaved { rtp: 0, rtcp: 1 })
        );
        assert_eq!(
            parse_transport("RTP/AVP;unicast;client_port=5000-5001"),
            Some(TransportSpec::Udp {
                rtp_port: 5000,
                rtcp_port: 5001
            })
        );
        // GStreamer offers several; the first we can serve wins.
        assert_eq!(
            parse_transport("RTP/AVP;multicast;port=5000-5001,RTP/AVP/TCP;unicast;interleaved=2-3"),
            Some(TransportSpec::Interleaved { rtp: 2, rtcp: 3 })
        );
        assert_eq!(
            parse_transport("RTP/AVP/UDP;unicast;client_port=6000;mode=\"PLAY\""),
            Some(TransportSpec::Udp {
                rtp_port: 6000,
                rtcp_port: 6001
            })
        );
    }

    #[test]
    fn refuses() {
        assert_eq!(parse_transport("RTP/AVP;multicast"), None);
        assert_eq!(parse_transport("RTP/SAVP;unicast;client_port=1-2"), None);
        assert_eq!(parse_transport("RTP/AVP;unicast"), None);
        assert_eq!(parse_transport("RTP/AVP/TCP;interleaved=300-301"), None);
        assert_eq!(parse_transport("RTP/AVP;unicast;client_port=65535"), None);
        assert_eq!(parse_transport("RTP/AVP/TCP;mode=record"), None);
        assert_eq!(parse_transport(""), None);
    }
}
