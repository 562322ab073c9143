//! The embedded demo: one camera at each of the five levels of Guangxi, fed
//! by the built-in looping clips.

/// The configuration `xlgw` runs with when given none.
pub const DEMO_CONFIG: &str = r#"
[server]
rtsp_listen = "0.0.0.0:8554"
http_listen = "0.0.0.0:8080"
data_dir = "./data"

# 自治区 (region): 广西壮族自治区
[[cameras]]
id = "45000000001320000001"
name = "自治区指挥中心 大厅"
area = "45"
url = "clip:h264-aac-720p"
mode = "always"

# 市 (city): 南宁市
[[cameras]]
id = "45010000001320000001"
name = "南宁市 民族大道路口"
area = "4501"
url = "clip:h265-pcma-720p"
mode = "always"

# 县/区 (county): 兴宁区
[[cameras]]
id = "45010200001320000002"
name = "兴宁区 朝阳广场"
area = "450102"
url = "clip:h264-aac-720p"
mode = "always"

# 乡镇/街道 (township): 民生街道
[[cameras]]
id = "45010200001310000003"
name = "民生街道 办事处门口"
area = "450102001"
url = "clip:h265-pcma-720p"
mode = "on-demand"

# 村/社区 (village): 兴宁社区居委会
[[cameras]]
id = "45010200001320000001"
name = "兴宁社区 东门"
area = "450102001003"
url = "clip:h264-aac-720p"
mode = "on-demand"
"#;
