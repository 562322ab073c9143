//! [`RetinaOpener`]: pulls a camera with the retina RTSP client, taking its
//! raw RTP packets (no depacketizing: the relay forwards packets as they
//! came).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use retina::client::{
    InitialSequenceNumberPolicy, InitialTimestampPolicy, PacketItem, PlayOptions, Session,
    SessionGroup, SessionIdPolicy, SessionOptions, SetupOptions, TeardownPolicy, Transport,
    UnassignedChannelDataPolicy,
};
use retina::codec::{ParametersRef, VideoParametersCodec};
use xlgw_model::Camera;
use xlgw_relay::{MediaKind, Packet, StreamInfo, Track};

use crate::IngestError;
use crate::error::{Scrubber, Stage, display_url};
use crate::opener::{OpenTransport, Opened, Opener};
use crate::sdp::{self, MediaSection};

/// The relay keeps at most this many tracks per stream.
pub const MAX_TRACKS: usize = 8;

/// The user agent sent to cameras.
pub const USER_AGENT: &str = "xlgw/0.1";

/// Longest wait, before a new DESCRIBE, for the teardown of this camera's
/// previous session (cameras that allow few sessions refuse a new one while
/// the old is still alive).
const STALE_WAIT: Duration = Duration::from_secs(2);

/// Opens cameras with retina.
///
/// Tolerance settings: the session id of the first SETUP is kept when a
/// camera changes it, data on unassigned interleaved channels is ignored,
/// the `RTP-Info` `seq`/`rtptime` values are ignored (the relay rewrites
/// numbering anyway), RTCP with unknown SSRCs is dropped, and a track whose
/// SETUP fails is skipped rather than failing the camera.
pub struct RetinaOpener {
    user_agent: String,
    groups: Mutex<HashMap<String, Arc<SessionGroup>>>,
}

impl std::fmt::Debug for RetinaOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetinaOpener")
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl Default for RetinaOpener {
    fn default() -> Self {
        RetinaOpener::new()
    }
}

impl RetinaOpener {
    pub fn new() -> RetinaOpener {
        RetinaOpener {
            user_agent: USER_AGENT.to_string(),
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// One session group per camera: it tracks the teardown of sessions we
    /// dropped.
    fn group(&self, camera: &Camera) -> Arc<SessionGroup> {
        let key = camera.id.to_string();
        let mut g = match self.groups.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.entry(key.clone())
            .or_insert_with(|| Arc::new(SessionGroup::default().named(key)))
            .clone()
    }
}

impl Opener for RetinaOpener {
    fn open(
        &self,
        camera: &Camera,
        transport: OpenTransport,
    ) -> BoxFuture<'static, Result<Opened, IngestError>> {
        let url = camera.url.clone();
        let creds = camera.credentials.clone();
        let group = self.group(camera);
        let user_agent = self.user_agent.clone();
        Box::pin(async move {
            let scrubber = Scrubber::new(creds.as_ref());
            let creds = creds.map(|c| retina::client::Credentials {
                username: c.username,
                password: c.password,
            });
            open(&url, creds, transport, group, user_agent, scrubber.clone())
                .await
                .map_err(|e| scrubber.error(e))
        })
    }
}

/// Parses a camera URL for retina: `rtsp://` only, no userinfo.
pub(crate) fn source_url(raw: &str) -> Result<url::Url, IngestError> {
    let shown = display_url(raw);
    let lower = raw.trim_start().to_ascii_lowercase();
    if !lower.starts_with("rtsp://") {
        return Err(IngestError::UnsupportedUrl(shown));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| IngestError::InvalidUrl {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IngestError::InvalidUrl {
            url: shown,
            reason: "credentials belong in the camera's credentials, not its URL".into(),
        });
    }
    if url.host().is_none() {
        return Err(IngestError::InvalidUrl {
            url: shown,
            reason: "no host".into(),
        });
    }
    Ok(url)
}

/// Retina's error texts are several lines (the error, then connection and
/// message context). One line reads better in a status.
fn one_line(text: &str) -> String {
    const MAX: usize = 600;
    let mut s = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn rtsp_error(stage: Stage, e: &retina::Error, scrubber: &Scrubber) -> IngestError {
    let message = scrubber.scrub(&one_line(&e.to_string()));
    // Retina reports the status of the response it could not use; only a
    // failure status says something.
    let status = e.status_code().filter(|s| !(200..300).contains(s));
    let unauthorized = status == Some(401)
        || message.contains("Authentication requested and no credentials supplied")
        || message.contains("Unauthorized after trying");
    if unauthorized {
        IngestError::Unauthorized { stage, message }
    } else {
        IngestError::Rtsp {
            stage,
            status,
            message,
        }
    }
}

async fn open(
    raw_url: &str,
    creds: Option<retina::client::Credentials>,
    transport: OpenTransport,
    group: Arc<SessionGroup>,
    user_agent: String,
    scrubber: Scrubber,
) -> Result<Opened, IngestError> {
    let url = source_url(raw_url)?;

    // Let the teardown of our previous session reach the camera first.
    let stale = group.stale_sessions();
    if stale.num_sessions > 0 {
        let _ = tokio::time::timeout(STALE_WAIT, group.await_stale_sessions(&stale)).await;
    }

    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(user_agent)
        .session_group(group)
        .teardown(TeardownPolicy::Auto)
        .unassigned_channel_data(UnassignedChannelDataPolicy::Ignore)
        .session_id(SessionIdPolicy::UseFirst);
    let mut session = Session::describe(url, options)
        .await
        .map_err(|e| rtsp_error(Stage::Describe, &e, &scrubber))?;

    let sections = sdp::media_sections(session.sdp());
    let keys: Vec<(String, u8)> = session
        .streams()
        .iter()
        .map(|s| (s.media().to_string(), s.rtp_payload_type()))
        .collect();
    let matched = sdp::match_sections(&sections, &keys);

    let mut tracks: Vec<Track> = Vec::new();
    let mut stream_to_track: Vec<Option<u8>> = vec![None; keys.len()];
    let mut first_error: Option<IngestError> = None;
    let mut skipped: Vec<String> = Vec::new();
    for i in 0..keys.len() {
        let section = matched[i].and_then(|j| sections.get(j));
        let (kind, track) = {
            let s = &session.streams()[i];
            let what = format!("{}/{}", s.media(), s.encoding_name());
            let kind = match s.media() {
                "video" => MediaKind::Video,
                "audio" => MediaKind::Audio,
                "application" => MediaKind::Application,
                _ => {
                    tracing::debug!(stream = i, %what, "skipping track: media kind not relayed");
                    skipped.push(what);
                    continue;
                }
            };
            if matched[i].is_some_and(|j| sdp::is_back_channel(&sections, j)) {
                tracing::debug!(stream = i, %what, "skipping back channel");
                skipped.push(format!("{what} (back channel)"));
                continue;
            }
            if tracks.len() >= MAX_TRACKS {
                tracing::debug!(stream = i, %what, "skipping track: too many tracks");
                skipped.push(format!("{what} (over {MAX_TRACKS} tracks)"));
                continue;
            }
            (kind, build_track(s, kind, section))
        };
        let t = match transport {
            OpenTransport::Tcp => Transport::Tcp(Default::default()),
            OpenTransport::Udp => Transport::Udp(Default::default()),
        };
        match session.setup(i, SetupOptions::default().transport(t)).await {
            Ok(()) => {
                stream_to_track[i] = Some(tracks.len() as u8);
                tracks.push(track);
            }
            Err(e) => {
                let err = rtsp_error(Stage::Setup, &e, &scrubber);
                tracing::debug!(stream = i, kind = kind.as_str(), error = %err, "SETUP failed; skipping track");
                if matches!(err, IngestError::Unauthorized { .. }) {
                    return Err(err);
                }
                skipped.push(format!("{}/{}", kind.as_str(), track.encoding));
                first_error.get_or_insert(err);
            }
        }
    }
    if tracks.is_empty() {
        return Err(match first_error {
            Some(e) => e,
            None => IngestError::NoTracks(format!(
                "no relayable track among {}",
                if skipped.is_empty() {
                    "none".to_string()
                } else {
                    skipped.join(", ")
                }
            )),
        });
    }
    if !skipped.is_empty() {
        tracing::debug!(skipped = %skipped.join(", "), "some tracks not relayed");
    }

    let playing = session
        .play(
            PlayOptions::default()
                .initial_timestamp(InitialTimestampPolicy::Ignore)
                .initial_seq(InitialSequenceNumberPolicy::Ignore),
        )
        .await
        .map_err(|e| rtsp_error(Stage::Play, &e, &scrubber))?;

    let packets = playing.filter_map(move |item| {
        let out =
            match item {
                Ok(PacketItem::Rtp(p)) => stream_to_track
                    .get(p.stream_id())
                    .copied()
                    .flatten()
                    .map(|track| {
                        let seq = p.sequence_number();
                        let ts = p.header().timestamp();
                        let mark = p.mark();
                        Ok(Packet::new(track, seq, ts, mark, p.into_payload_bytes()))
                    }),
                Ok(_) => None,
                Err(e) => Some(Err(rtsp_error(Stage::Stream, &e, &scrubber))),
            };
        futures::future::ready(out)
    });
    Ok(Opened {
        info: StreamInfo { tracks },
        packets: packets.boxed(),
    })
}

/// The relay's description of one retina stream, with the camera's own
/// rtpmap spelling and fmtp where the SDP had them.
fn build_track(
    s: &retina::client::Stream,
    kind: MediaKind,
    section: Option<&MediaSection>,
) -> Track {
    let pt = s.rtp_payload_type();
    let pt_str = pt.to_string();
    // Upper-case names for audio and video (readers expect `H264`, `PCMA`);
    // application formats keep their registered spelling.
    let encoding = section
        .and_then(|sec| sec.encoding_for(&pt_str))
        .unwrap_or_else(|| s.encoding_name());
    let encoding = match kind {
        MediaKind::Application => encoding.to_string(),
        _ => encoding.to_ascii_uppercase(),
    };
    let fmtp = section
        .and_then(|sec| sec.fmtp_for(&pt_str))
        .and_then(|raw| sdp::clean_fmtp(&encoding, raw))
        .or_else(|| rebuilt_fmtp(s));
    Track {
        kind,
        encoding,
        clock_rate: s.clock_rate_hz(),
        channels: s.channels().map(|c| c.get()),
        payload_type: pt,
        fmtp,
        framerate: s
            .framerate()
            .map(f64::from)
            .filter(|f| f.is_finite() && *f > 0.0),
    }
}

/// An fmtp from what retina parsed, for an SDP that had none.
fn rebuilt_fmtp(s: &retina::client::Stream) -> Option<String> {
    match (s.encoding_name(), s.parameters()) {
        ("h264", Some(ParametersRef::Video(v))) => match v.codec_params() {
            VideoParametersCodec::H264 { sps, pps } => Some(sdp::h264_fmtp(Some(sps), Some(pps))),
            _ => Some(sdp::h264_fmtp(None, None)),
        },
        ("h264", _) => Some(sdp::h264_fmtp(None, None)),
        ("h265", Some(ParametersRef::Video(v))) => match v.codec_params() {
            VideoParametersCodec::H265 { vps, sps, pps } => sdp::h265_fmtp(vps, sps, pps),
            _ => None,
        },
        ("mpeg4-generic", Some(ParametersRef::Audio(a))) => sdp::aac_fmtp(a.extra_data()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls() {
        assert!(source_url("rtsp://192.0.2.1:554/ch1").is_ok());
        assert!(matches!(
            source_url("clip:h264-aac-720p"),
            Err(IngestError::UnsupportedUrl(_))
        ));
        assert!(matches!(
            source_url("rtsps://h/x"),
            Err(IngestError::UnsupportedUrl(_))
        ));
        let e = source_url("rtsp://admin:hunter2@h/x").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
        assert!(matches!(
            source_url("rtsp://"),
            Err(IngestError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn one_line_joins() {
        assert_eq!(one_line("a\n\nconn: b\n  msg: c\n"), "a; conn: b; msg: c");
        let long = "é".repeat(400);
        let l = one_line(&long);
        assert!(l.len() <= 604 && l.ends_with('…'));
    }
}
