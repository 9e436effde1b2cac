"""The camera tab's script (served as ``/live/camera.js``; a Python string so that the package needs
no data files). It opens the camera (``getUserMedia``), takes frames at the session's rate, each
camera frame at most once (``MediaStreamTrackProcessor`` where the browser has it, else
``requestVideoFrameCallback``, else a timer), encodes them (JPEG, or PNG with ``data-format``),
POSTs them one at a time in order to ``/live/<id>/frame`` and shows the running state. Stop sends
what is queued, then ``/live/<id>/stop``, and hands the session id to Dash (``set_props`` on the
``live-final`` store) for the result card.

``window.movinetCamera.maxFrames`` (tests): take no more than that many frames.
"""

CAMERA_JS = r"""
(function () {
  "use strict";
  var C = window.movinetCamera = window.movinetCamera || {};
  C.maxFrames = C.maxFrames || null;
  C.sent = 0;
  var run = null;

  function el(id) { return document.getElementById(id); }
  function flipBox() {  // "the other end": a dcc.Checklist's one box
    var list = el("camera-flip");
    return list && list.querySelector ? list.querySelector("input") : null;
  }
  // "the other end" is for a movement counted, not judged (data-counted lists them): greyed out,
  // and unticked, for any other choice.
  function flipAllowed() {
    var box = el("camera"), choice = el("camera-movement");
    var counted = box && box.dataset && box.dataset.counted ? box.dataset.counted.split(",") : [];
    return !!(choice && choice.value && counted.indexOf(choice.value) >= 0);
  }
  function text(id, value) { var e = el(id); if (e) { e.textContent = value; } }
  function showError(message) {
    var e = el("live-error");
    if (e) { e.textContent = message || ""; e.className = message ? "message" : ""; }
  }
  function buttons(running) {
    var start = el("camera-start"), stop = el("camera-stop"), choice = el("camera-movement");
    if (start) { start.disabled = running; }
    if (stop) { stop.disabled = !running; }
    if (choice) { choice.disabled = running; }
    var flip = flipBox();
    if (flip) {
      var allowed = flipAllowed();
      flip.disabled = running || !allowed;
      if (!allowed && flip.checked) {
        flip.checked = false;  // and the box's value in Dash, or the next click would only untick it there
        if (window.dash_clientside && window.dash_clientside.set_props) {
          window.dash_clientside.set_props("camera-flip", {value: []});
        }
      }
    }
  }

  function verdictLine(rep) {
    if (!rep) { return ["no rep yet", "muted"]; }
    var n = rep.rep || rep.count;
    if (rep.valid === true) { return ["rep " + n + ": valid", "rep-valid"]; }
    if (rep.valid === false) { return ["rep " + n + ": NO REP" + (rep.reason ? " (" + rep.reason + ")" : ""), "rep-no-rep"]; }
    return ["rep " + n + ": can't tell" + (rep.reason ? " (" + rep.reason + ")" : ""), "rep-unknown"];
  }

  function render(status) {
    if (!status || !status.state) { return; }
    var s = status.state;
    text("live-count", String(s.count));
    var movement = s.movement || "not recognised yet";
    if (s.movement && s.probability !== null && s.probability !== undefined && !status.chosen_movement) {
      movement += " (" + Math.round(s.probability * 100) + "%)";
    }
    text("live-movement", movement);
    var pace = el("live-pace");
    if (pace && s.pace_s !== undefined) {  // none while the movement has not repeated (or has stopped)
      pace.textContent = s.pace_s ? s.pace_s.toFixed(1) + " s per rep" : pace.dataset.finding;
      pace.className = s.pace_s ? "" : "muted";
    }
    var line = verdictLine(s.last_rep), last = el("live-last-rep");
    if (last) { last.textContent = line[0]; last.className = line[1]; }
    var health = status.analysed + " of " + status.received + " frames analysed";
    if (status.analysis_fps) { health += " (the server analyses " + status.analysis_fps + " frames/s)"; }
    var warn = [];
    if (status.behind_s >= 0.5) { warn.push("the server is behind by " + status.behind_s.toFixed(1) + " s"); }
    // A frame the page drops leaves a gap in seq that the server counts as missing once a later
    // frame arrives: counted once (the page's own count covers the gaps not seen yet).
    var lost = (status.dropped || 0) + Math.max(status.missing || 0, run ? run.dropped : 0);
    if (lost) { warn.push(lost + " frame" + (lost === 1 ? "" : "s") + " dropped: the server cannot keep up, the count may miss reps"); }
    text("live-health", health);
    var w = el("live-behind");
    if (w) { w.textContent = warn.join("; "); w.className = warn.length ? "notes" : ""; }
  }

  async function post(url, body, type) {
    var response = await fetch(url, {method: "POST", body: body, credentials: "same-origin",
                                     headers: type ? {"Content-Type": type} : {}});
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      var message = data && data.error ? data.error : (response.status === 401
        ? "this app needs its access token: open the address with ?token=... again"
        : "the server answered " + response.status);
      var err = new Error(message); err.status = response.status; throw err;
    }
    return data;
  }

  function take(source, t, width, height) {
    if (!run || !run.capturing) { return; }
    if (C.maxFrames && run.seq >= C.maxFrames) { return; }
    var interval = 1 / run.fps;
    // A camera faster than the send rate: frames are taken on the send rate's ticks.
    if (run.next !== null && t < run.next - 0.25 * interval) { return; }
    run.next = (run.next === null || t - run.next > interval) ? t + interval : run.next + interval;
    if (!run.canvas) {
      var scale = Math.min(1, run.maxSide / Math.max(width, height));
      run.canvas = document.createElement("canvas");
      run.canvas.width = Math.max(2, Math.round(width * scale));
      run.canvas.height = Math.max(2, Math.round(height * scale));
      run.context = run.canvas.getContext("2d");
      run.t0 = t;
    }
    run.context.drawImage(source, 0, 0, run.canvas.width, run.canvas.height);
    var seq = run.seq++;
    if (run.pending.length >= run.fps * 3) { run.dropped += 1; return; }  // the network cannot keep up
    var canvas = run.canvas, type = run.format, quality = run.quality;
    // toBlob copies the picture now and encodes later: the canvas can take the next frame at once.
    var blob = new Promise(function (resolve) { canvas.toBlob(resolve, type, quality); });
    run.pending.push({seq: seq, t: Math.max(0, t - run.t0), blob: blob});
    pump(run);
  }

  async function pump(r) {
    if (r.sending || !r.session) { return; }  // frames taken while the session starts wait for it
    r.sending = true;
    try {
      while (r.pending.length && !r.failed) {
        var item = r.pending.shift(), blob = await item.blob;
        if (!blob) { r.dropped += 1; continue; }
        try {
          var status = await post("/live/" + r.session + "/frame?seq=" + item.seq + "&t=" + item.t.toFixed(4),
                                  blob, blob.type);
          C.sent += 1;
          text("camera-sent", String(C.sent));
          if (run === r) { render(status); }
        } catch (e) {
          showError(e.message);
          if (e.status === 404 || e.status === 409 || e.status === 401) { r.failed = true; halt(r); }
        }
      }
    } finally {
      r.sending = false;
      // A session that failed while Stop waits: Stop goes on (and says why) instead of waiting forever.
      if (r.drained && (!r.pending.length || r.failed)) { r.drained(); }
    }
  }

  function halt(r) {
    r.capturing = false;
    if (r.timer) { clearInterval(r.timer); }
    if (r.reader) { r.reader.cancel().catch(function () {}); }
    if (r.stream) { r.stream.getTracks().forEach(function (track) { track.stop(); }); }  // none yet: still asking
    var video = el("camera-video");
    if (video) { video.srcObject = null; }
    if (run === r && r.failed) { run = null; buttons(false); }
  }

  function capture(r, video) {
    var track = r.stream.getVideoTracks()[0];
    if (typeof MediaStreamTrackProcessor === "function") {
      // Every camera frame exactly once, with its capture time.
      r.mode = "track processor";
      r.reader = new MediaStreamTrackProcessor({track: track.clone()}).readable.getReader();
      (async function () {
        while (r.capturing) {
          var got = await r.reader.read().catch(function () { return {done: true}; });
          if (got.done) { break; }
          var frame = got.value;
          try { take(frame, frame.timestamp / 1e6, frame.displayWidth, frame.displayHeight); } finally { frame.close(); }
        }
      })();
    } else if ("requestVideoFrameCallback" in video) {
      r.mode = "video frame callback";
      var onFrame = function (now, meta) {
        if (!r.capturing) { return; }
        // captureTime (ms) where the browser gives it; a live stream's mediaTime need not advance.
        take(video, (meta.captureTime || now) / 1000, video.videoWidth, video.videoHeight);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      r.mode = "timer";
      r.timer = setInterval(function () {
        if (video.videoWidth) { take(video, performance.now() / 1000, video.videoWidth, video.videoHeight); }
      }, 1000 / r.fps);
    }
  }

  async function start() {
    if (run) { return; }
    showError("");
    text("live-final-note", "");
    var box = el("camera");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("this browser gives the camera only to a secure page: open the app over https:// (or on " +
                "http://localhost on this computer); see docs/app.md, Camera (live)");
      return;
    }
    var fps = Number(box.dataset.fps), choice = el("camera-movement");
    var r = {fps: fps, maxSide: Number(box.dataset.maxSide), format: box.dataset.format || "image/jpeg",
             quality: Number(box.dataset.quality || 0.92), seq: 0, next: null, pending: [], dropped: 0,
             capturing: true, sending: false, failed: false, canvas: null};
    run = r;
    C.sent = 0;
    text("camera-sent", "0");
    buttons(true);
    try {
      r.stream = await navigator.mediaDevices.getUserMedia({audio: false, video: {
        width: {ideal: 854}, height: {ideal: 480}, frameRate: {ideal: fps}, facingMode: "environment"}});
    } catch (e) {
      run = null; buttons(false);
      showError("the camera could not be opened (" + e.name + "): allow this page to use the camera, " +
                "and close other apps that use it");
      return;
    }
    if (run !== r) {  // Stop was pressed while the browser asked for the camera
      r.stream.getTracks().forEach(function (track) { track.stop(); });
      return;
    }
    // A camera slower than the send rate sends fewer frames than the session counts on, and every
    // time in the result would run fast: start the session at the camera's own rate then.
    var track = r.stream.getVideoTracks ? r.stream.getVideoTracks()[0] : null;
    var own = track && track.getSettings ? Math.round(Number(track.getSettings().frameRate)) : 0;
    if (own >= 1 && own < fps) { fps = own; r.fps = fps; }
    var video = el("camera-video");
    video.srcObject = r.stream;
    video.play().catch(function () {});
    capture(r, video);  // at once: the frames taken while the server loads its pose model are sent after
    try {
      var flip = flipBox();
      var started = await post("/live/start", JSON.stringify({fps: fps, movement: choice ? choice.value : "",
                                                              flip_rest: flip ? flip.checked && flipAllowed() : false}),
                               "application/json");
      r.session = started.session;
      if (run !== r) {  // Stop was pressed while the server started it: end it there too (frees its place)
        post("/live/" + r.session + "/stop", null, null).catch(function () {});
        return;
      }
      render(started);
    } catch (e) {
      r.failed = true; halt(r);
      if (run === r) { run = null; buttons(false); showError(e.message); }  // not a newer Start's
      return;
    }
    text("live-mode", "sending " + fps + " frames/s (" + r.format.replace("image/", "") + ", " + r.mode + ")");
    pump(r);
  }

  async function stop() {
    var r = run;
    if (!r) { return; }
    el("camera-stop").disabled = true;
    halt(r);
    if (!r.session) { run = null; buttons(false); return; }  // stopped before the server had a session
    text("live-final-note", "finishing: the last frames are analysed...");
    if ((r.sending || r.pending.length) && !r.failed) {
      await new Promise(function (resolve) { r.drained = resolve; });
    }
    try {
      var done = await post("/live/" + r.session + "/stop", null, null);
      render(done.status);
      text("live-count", String(done.result.count));
      text("live-final-note", "");
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props("live-final", {data: {session: r.session}});
      }
    } catch (e) {
      text("live-final-note", "");
      showError(e.message);
      if (e.status === 503) {  // still analysing: Stop stays pressable ("try Stop again")
        r.drained = null;
        el("camera-stop").disabled = false;
        return;
      }
    }
    run = null;
    buttons(false);
  }

  C.start = start;
  C.stop = stop;
  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest ? event.target.closest("button") : null;
    if (!target) { return; }
    if (target.id === "camera-start") { start(); }
    else if (target.id === "camera-stop") { stop(); }
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "camera-movement") { buttons(!!run); }
  });
})();
"""
