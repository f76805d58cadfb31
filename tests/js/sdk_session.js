// Drives Microsoft's JavaScript Speech SDK (microsoft-cognitiveservices-speech-sdk) against a
// Speech service and prints every SDK event as one JSON line on stdout, for
// tests/e2e/test_js_sdk.py. Usage: node sdk_session.js '<spec as JSON>'
//
// spec: {kind: "translation" | "speech" | "synthesis" | "voices" (locale), mode: "continuous" | "once",
//        host | endpoint, key | token, language, targets, voice, detailed, profanity,
//        phrases: a phrase list (PhraseListGrammar),
//        properties: {name: value}, audio: path of raw audio (16 kHz mono 16-bit PCM unless
//        format says otherwise), format, chunk: bytes, paceMs,
//        bookmarks, visemes: connect those handlers,
//        text | ssml | pieces: [[delayMs, text], ...] (a TextStream request; the stream closes
//        after the last; closeAfterAudio: only once audio came back), turns, telemetry, times,
//        autoDetect, lidMode, outputFormat: a SpeechSynthesisOutputFormat name, timeoutMs}
//
// turns: continuous recognition stops after that many speechEndDetected (the service's
// ends of turns), as the SDK's own multi-turn tests do. telemetry: true prints the telemetry
// the SDK sends after each turn (what it counted of the service's messages), through the
// same internal hook its own telemetry tests use.
//
// The first line says which WebSocket the SDK will use: "global" is the browser code path
// (Node's own WebSocket, `node --experimental-websocket`), "ws" the npm package.
"use strict";

const fs = require("fs");
const sdk = require("microsoft-cognitiveservices-speech-sdk");

const spec = JSON.parse(process.argv[2]);
const started = Date.now();

function emit(record) {
  process.stdout.write(JSON.stringify({ at: (Date.now() - started) / 1000, ...record }) + "\n");
}

function enumName(enumeration, value) {
  return value === undefined ? "" : enumeration[value];
}

function resultRecord(name, result) {
  const record = {
    name,
    reason: enumName(sdk.ResultReason, result.reason),
    text: result.text === undefined ? null : result.text,
    offset: result.offset || 0,
    duration: result.duration || 0,
    json: result.json || "",
    errorDetails: result.errorDetails === undefined ? null : result.errorDetails,
    language: result.language === undefined ? null : result.language,
  };
  if (result.translations) {
    record.translations = {};
    for (const language of result.translations.languages) {
      record.translations[language] = result.translations.get(language);
    }
  }
  if (result.reason === sdk.ResultReason.NoMatch) {
    record.noMatchReason = enumName(sdk.NoMatchReason, sdk.NoMatchDetails.fromResult(result).reason);
  }
  return record;
}

function canceledRecord(e) {
  return {
    name: "canceled",
    reason: enumName(sdk.CancellationReason, e.reason),
    code: enumName(sdk.CancellationErrorCode, e.errorCode),
    details: e.errorDetails || "",
  };
}

function configure(config) {
  const properties = {
    // Like tests/sdk_harness.py FAST: the SDK throttles push-stream audio after 5 s.
    "SPEECH-TransmitLengthBeforThrottleMs": "3600000",
    ...(spec.properties || {}),
  };
  for (const [name, value] of Object.entries(properties)) {
    config.setProperty(name, value);
  }
  if (spec.token) {
    config.authorizationToken = spec.token;
  }
  if (spec.profanity) {
    config.setProfanity(sdk.ProfanityOption[spec.profanity]);
  }
  if (spec.detailed) {
    config.outputFormat = sdk.OutputFormat.Detailed;
  }
  return config;
}

function speechConfig(Config) {
  const key = spec.token ? undefined : spec.key;
  if (spec.endpoint) {
    return configure(Config.fromEndpoint(new URL(spec.endpoint), key));
  }
  return configure(Config.fromHost(new URL(spec.host), key));
}

// The audio, in chunks of `chunk` bytes: all at once, or one every `paceMs` (a live source;
// the SDK replays unacknowledged audio after a reconnect only while it is still sending).
function pushStream() {
  // format: {rate, bits, channels, tag: "PCM" | "MuLaw" | "ALaw"}; the SDK's default if none.
  const format = spec.format
    ? sdk.AudioStreamFormat.getWaveFormat(
        spec.format.rate,
        spec.format.bits,
        spec.format.channels,
        sdk.AudioFormatTag[spec.format.tag || "PCM"],
      )
    : undefined;
  const stream = sdk.AudioInputStream.createPushStream(format);
  const pcm = fs.readFileSync(spec.audio);
  const chunk = spec.chunk || 3200;
  const pieces = [];
  for (let i = 0; i < pcm.length; i += chunk) {
    const piece = pcm.subarray(i, Math.min(i + chunk, pcm.length));
    pieces.push(piece.buffer.slice(piece.byteOffset, piece.byteOffset + piece.length));
  }
  if (!spec.paceMs) {
    pieces.forEach((piece) => stream.write(piece));
    stream.close();
    return stream;
  }
  const next = () => {
    if (pieces.length === 0) {
      stream.close();
      return;
    }
    stream.write(pieces.shift());
    setTimeout(next, spec.paceMs);
  };
  next();
  return stream;
}

function finish(code) {
  emit({ name: "exit" });
  // The SDK keeps timers; exit once our own records are flushed.
  process.stdout.write("", () => process.exit(code));
}

function recordTelemetry() {
  const internal = require("microsoft-cognitiveservices-speech-sdk/distrib/lib/src/common.speech/Exports.js");
  sdk.Recognizer.enableTelemetry(true);
  internal.ServiceRecognizerBase.telemetryData = (json) => emit({ name: "telemetry", json });
}

function recognize() {
  if (spec.telemetry) {
    recordTelemetry();
  }
  const audioConfig = sdk.AudioConfig.fromStreamInput(pushStream());
  // autoDetect: candidate languages (AutoDetectSourceLanguageConfig); lidMode: "Continuous".
  const autoDetect = spec.autoDetect
    ? sdk.AutoDetectSourceLanguageConfig.fromLanguages(spec.autoDetect)
    : undefined;
  if (autoDetect && spec.lidMode) {
    autoDetect.mode = sdk.LanguageIdMode[spec.lidMode];
  }
  let recognizer;
  if (spec.kind === "translation") {
    const config = speechConfig(sdk.SpeechTranslationConfig);
    config.speechRecognitionLanguage = spec.language || "en-US";
    for (const target of spec.targets || ["de"]) {
      config.addTargetLanguage(target);
    }
    if (spec.voice) {
      config.voiceName = spec.voice;
    }
    recognizer = autoDetect
      ? sdk.TranslationRecognizer.FromConfig(config, autoDetect, audioConfig)
      : new sdk.TranslationRecognizer(config, audioConfig);
    recognizer.synthesizing = (_, e) => {
      const audio = e.result.audio ? Buffer.from(e.result.audio) : Buffer.alloc(0);
      emit({
        name: "synthesizing",
        reason: enumName(sdk.ResultReason, e.result.reason),
        audio: audio.toString("base64"),
      });
    };
  } else {
    const config = speechConfig(sdk.SpeechConfig);
    config.speechRecognitionLanguage = spec.language || "en-US";
    recognizer = autoDetect
      ? sdk.SpeechRecognizer.FromConfig(config, autoDetect, audioConfig)
      : new sdk.SpeechRecognizer(config, audioConfig);
  }
  if (spec.phrases) {
    sdk.PhraseListGrammar.fromRecognizer(recognizer).addPhrases(spec.phrases);
  }
  recognizer.sessionStarted = () => emit({ name: "session_started" });
  recognizer.speechStartDetected = (_, e) => emit({ name: "speech_start_detected", offset: e.offset });
  let ends = 0;
  recognizer.speechEndDetected = (_, e) => {
    emit({ name: "speech_end_detected", offset: e.offset });
    ends += 1;
    if (ends === spec.turns) {
      recognizer.stopContinuousRecognitionAsync(() => done(0), () => done(1));
    }
  };
  recognizer.recognizing = (_, e) => emit(resultRecord("recognizing", e.result));
  recognizer.recognized = (_, e) => emit(resultRecord("recognized", e.result));
  recognizer.canceled = (_, e) => emit(canceledRecord(e));
  const timeout = setTimeout(() => {
    emit({ name: "timeout" });
    finish(2);
  }, spec.timeoutMs || 60000);
  const done = (code) => {
    clearTimeout(timeout);
    recognizer.close(() => finish(code), () => finish(code));
  };
  if (spec.mode === "once") {
    // `times` recognitions in a row on the one recognizer (and its one connection).
    let left = spec.times || 1;
    const once = () =>
      recognizer.recognizeOnceAsync(
        (result) => {
          emit(resultRecord("result", result));
          left -= 1;
          if (left > 0) {
            setTimeout(once, 100); // as the SDK's own test, once the first has settled
          } else {
            done(0);
          }
        },
        (error) => {
          emit({ name: "error", details: String(error) });
          done(1);
        },
      );
    once();
    return;
  }
  recognizer.sessionStopped = () => {
    emit({ name: "session_stopped" });
    recognizer.stopContinuousRecognitionAsync(() => done(0), () => done(1));
  };
  recognizer.startContinuousRecognitionAsync(
    () => {},
    (error) => {
      emit({ name: "error", details: String(error) });
      done(1);
    },
  );
}

function synthesize() {
  const config = speechConfig(sdk.SpeechConfig);
  if (spec.voice) {
    config.speechSynthesisVoiceName = spec.voice;
  }
  if (spec.outputFormat) {
    config.speechSynthesisOutputFormat = sdk.SpeechSynthesisOutputFormat[spec.outputFormat];
  }
  // No audio output: the result carries the audio, as in a server-side Node app.
  const synthesizer = new sdk.SpeechSynthesizer(config, null);
  synthesizer.wordBoundary = (_, e) =>
    emit({
      name: "word_boundary",
      text: e.text,
      offset: e.audioOffset,
      duration: e.duration,
      textOffset: e.textOffset,
      wordLength: e.wordLength,
      boundaryType: e.boundaryType,
    });
  // Connecting a handler is what asks the service for these events (metadataOptions).
  if (spec.bookmarks) {
    synthesizer.bookmarkReached = (_, e) =>
      emit({ name: "bookmark", text: e.text, offset: e.audioOffset });
  }
  if (spec.visemes) {
    synthesizer.visemeReceived = (_, e) =>
      emit({ name: "viseme", id: e.visemeId, offset: e.audioOffset, animation: e.animation });
  }
  synthesizer.synthesizing = (_, e) =>
    emit({ name: "synthesizing", audioBytes: e.result.audioData.byteLength });
  const timeout = setTimeout(() => {
    emit({ name: "timeout" });
    finish(2);
  }, spec.timeoutMs || 60000);
  const onResult = (result) => {
    clearTimeout(timeout);
    const record = {
      name: "result",
      reason: enumName(sdk.ResultReason, result.reason),
      audio: Buffer.from(result.audioData || new ArrayBuffer(0)).toString("base64"),
      duration: result.audioDuration || 0,
      details: result.errorDetails || "",
    };
    emit(record);
    synthesizer.close(() => finish(0), () => finish(0));
  };
  const onError = (error) => {
    clearTimeout(timeout);
    emit({ name: "error", details: String(error) });
    finish(1);
  };
  if (spec.pieces) {
    const request = new sdk.SpeechSynthesisRequest(sdk.SpeechSynthesisRequestInputType.TextStream);
    synthesizer.speakAsync(request, onResult, onError);
    // Each piece `ms` after the one before; the stream closes after the last, or with
    // closeAfterAudio only once audio has come back (a service that waits for the end of
    // the stream then never answers: the session times out).
    let sent = 0;
    let heard = false;
    const close = () => {
      if (sent === spec.pieces.length && (heard || !spec.closeAfterAudio)) {
        sent += 1;
        emit({ name: "stream_closed" });
        request.inputStream.close();
      }
    };
    if (spec.closeAfterAudio) {
      const previous = synthesizer.synthesizing;
      synthesizer.synthesizing = (sender, e) => {
        previous(sender, e);
        heard = true;
        close();
      };
    }
    let delay = 0;
    for (const [ms, text] of spec.pieces) {
      delay += ms;
      setTimeout(() => {
        emit({ name: "piece_sent", text });
        request.inputStream.write(text);
        sent += 1;
        close();
      }, delay);
    }
  } else if (spec.ssml) {
    synthesizer.speakSsmlAsync(spec.ssml, onResult, onError);
  } else {
    synthesizer.speakTextAsync(spec.text, onResult, onError);
  }
}

function voices() {
  const synthesizer = new sdk.SpeechSynthesizer(speechConfig(sdk.SpeechConfig), null);
  synthesizer.getVoicesAsync(spec.locale || "").then(
    (result) => {
      emit({
        name: "voices",
        reason: enumName(sdk.ResultReason, result.reason),
        details: result.errorDetails || "",
        voices: (result.voices || []).map((v) => ({
          shortName: v.shortName,
          locale: v.locale,
          gender: enumName(sdk.SynthesisVoiceGender, v.gender),
          voiceType: enumName(sdk.SynthesisVoiceType, v.voiceType),
          voiceTag: v.voiceTag,
          wordsPerMinute: v.wordsPerMinute,
        })),
      });
      synthesizer.close(() => finish(0), () => finish(0));
    },
    (error) => {
      emit({ name: "error", details: String(error) });
      finish(1);
    },
  );
}

emit({ name: "runtime", websocket: typeof WebSocket !== "undefined" ? "global" : "ws", node: process.version });
if (spec.kind === "synthesis") {
  synthesize();
} else if (spec.kind === "voices") {
  voices();
} else {
  recognize();
}
