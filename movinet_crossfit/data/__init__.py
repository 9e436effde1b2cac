"""The corpus layer: source lists and downloads -> annotations -> manifest -> clips -> records.

    sources.py          source lists (URL lists, CSVs, Countix) -> SourceItem
    download.py         the yt-dlp driver, the download report and archive, status
    metadata.py         the <video>.info.json sidecar (read by the manifest stage)
    manifest.py         the manifest format (pydantic), the shared contract
    annotations.py      Supervisely export -> manifest
    clips.py            manifest + videos -> frame-accurate clips (ffmpeg)
    splits.py           grouped, stratified split assignment
    records.py          clips -> TFRecords; load_dataset
    stats.py            per-class table and chart
    countix.py          the one Countix CSV reader
    counting_manifest.py segments with repetition counts (counting.json) for counters
"""
