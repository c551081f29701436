// The console's style sheet (served at /app.css). Sizes in rem so that zooming to 200 % reflows the
// page instead of clipping it; every state has a text label and a symbol besides its colour.
export const APP_CSS = String.raw`
:root {
  --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de;
  --ok: #116329; --ok-bg: #dafbe1; --warn: #7d4e00; --warn-bg: #fff8c5; --bad: #a40e26; --bad-bg: #ffebe9;
  --info: #0a3069; --info-bg: #ddf4ff; --focus: #0969da;
  font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 100%; line-height: 1.45;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
.skip { position: absolute; left: -999rem; }
.skip:focus { left: 0.5rem; top: 0.5rem; background: var(--bg); padding: 0.5rem; z-index: 10; }
:focus-visible { outline: 0.2rem solid var(--focus); outline-offset: 0.1rem; }
header { background: var(--panel); border-bottom: 1px solid var(--line); padding: 0.5rem 1rem; display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; align-items: center; }
header .title { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; align-items: baseline; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.2rem; margin: 1.25rem 0 0.5rem; }
h3 { font-size: 1.05rem; margin: 0; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; }
nav a { color: var(--info); }
main { padding: 0 1rem 2rem; max-width: 90rem; }
.muted, .who { color: var(--muted); margin: 0; }
.conn { margin: 0; font-weight: 600; }
.conn[data-state="live"] { color: var(--ok); }
.conn[data-state="lost"] { color: var(--bad); }
.banner { background: var(--bad-bg); color: var(--bad); border: 1px solid var(--bad); padding: 0.5rem 0.75rem; margin-top: 0.75rem; border-radius: 0.25rem; }
.notice:empty { display: none; }
.notice { margin-top: 0.75rem; padding: 0.5rem 0.75rem; border-radius: 0.25rem; border: 1px solid var(--line); background: var(--info-bg); color: var(--info); }
.notice[data-outcome="done"] { background: var(--ok-bg); color: var(--ok); border-color: var(--ok); }
.notice[data-outcome="refused"], .notice[data-outcome="failed"], .notice[data-outcome="not found"], .notice[data-outcome="bad input"], .notice[data-outcome="timed out"] { background: var(--bad-bg); color: var(--bad); border-color: var(--bad); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.25rem 0 0.5rem; min-width: 20rem; }
th, td { text-align: left; padding: 0.25rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 0.4rem; padding: 0.75rem; flex: 1 1 28rem; max-width: 100%; min-width: 0; }
.card header { all: unset; display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; align-items: baseline; }
.facts { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; margin: 0.4rem 0; padding: 0; list-style: none; }
.why { margin: 0.25rem 0; }
.state { display: inline-block; padding: 0 0.45rem; border-radius: 0.8rem; border: 1px solid currentColor; font-weight: 600; white-space: nowrap; }
.state[data-tone="ok"] { color: var(--ok); background: var(--ok-bg); }
.state[data-tone="warn"] { color: var(--warn); background: var(--warn-bg); }
.state[data-tone="bad"] { color: var(--bad); background: var(--bad-bg); }
.state[data-tone="info"] { color: var(--info); background: var(--info-bg); }
.actions { display: flex; flex-wrap: wrap; gap: 0.4rem 0.6rem; align-items: center; margin-top: 0.5rem; }
.actions .group { display: inline-flex; flex-wrap: wrap; gap: 0.3rem; align-items: center; }
button, select, input { font: inherit; }
button { padding: 0.25rem 0.7rem; border: 1px solid var(--line); border-radius: 0.3rem; background: var(--panel); color: var(--fg); cursor: pointer; }
button:hover { border-color: var(--muted); }
button.primary { background: var(--focus); color: #fff; border-color: var(--focus); }
button.danger { color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: 0.6; cursor: progress; }
select, input { padding: 0.2rem 0.35rem; border: 1px solid var(--muted); border-radius: 0.3rem; background: var(--bg); color: var(--fg); max-width: 100%; }
.filters { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; margin-bottom: 0.5rem; }
.filters label { display: inline-flex; gap: 0.35rem; align-items: center; }
.timeline { width: 100%; max-width: 60rem; height: auto; display: block; margin: 0.25rem 0; }
.legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0; padding: 0; list-style: none; font-size: 0.9rem; }
.swatch { display: inline-block; width: 1.2rem; height: 0.8rem; vertical-align: middle; border: 1px solid var(--fg); margin-right: 0.3rem; }
.swatch.up { background: #4ac26b; }
.swatch.planned { background: repeating-linear-gradient(90deg, #d4a72c 0 0.2rem, #fff8c5 0.2rem 0.4rem); }
.swatch.unplanned { background: repeating-linear-gradient(45deg, #cf222e 0 0.2rem, #ffebe9 0.2rem 0.4rem); }
dialog { border: 1px solid var(--line); border-radius: 0.4rem; max-width: min(40rem, 95vw); padding: 1rem 1.25rem; }
dialog::backdrop { background: rgba(0, 0, 0, 0.35); }
dialog .buttons { display: flex; justify-content: flex-end; gap: 0.5rem; flex-wrap: wrap; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.92em; overflow-wrap: anywhere; }
td.reason { max-width: 40rem; overflow-wrap: anywhere; }
`;
