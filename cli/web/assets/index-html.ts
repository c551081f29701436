// The console's page (served at /). Kept as a string module so that `tsc` puts it in dist/ with the
// code: the console needs no asset copying and loads nothing from the network.
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hactl console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<a class="skip" href="#sets">Skip to the service sets</a>
<header>
  <div class="title">
    <h1>hactl <span id="cluster">…</span></h1>
    <p id="conn" class="conn" data-state="connecting"><span class="sym" aria-hidden="true">…</span> <span id="conn-text">connecting</span></p>
  </div>
  <p id="who" class="who"></p>
  <nav aria-label="Sections">
    <ul>
      <li><a href="#hosts">Hosts</a></li>
      <li><a href="#sets">Service sets</a></li>
      <li><a href="#devices">Fence devices</a></li>
      <li><a href="#availability">Availability</a></li>
      <li><a href="#events">Events</a></li>
    </ul>
  </nav>
  <div id="cluster-actions" class="actions"></div>
</header>
<main>
  <div id="trouble" class="banner" role="alert" hidden></div>
  <div id="notice" class="notice" role="status" aria-live="polite"></div>
  <section id="hosts" aria-labelledby="h-hosts" tabindex="-1">
    <h2 id="h-hosts">Hosts</h2>
    <div id="hosts-body" class="body"><p>Waiting for the first view of the cluster…</p></div>
  </section>
  <section id="sets" aria-labelledby="h-sets" tabindex="-1">
    <h2 id="h-sets">Service sets</h2>
    <div id="sets-body" class="body"></div>
  </section>
  <section id="devices" aria-labelledby="h-devices" tabindex="-1">
    <h2 id="h-devices">Fence devices</h2>
    <div id="devices-body" class="body"></div>
  </section>
  <section id="availability" aria-labelledby="h-availability" tabindex="-1">
    <h2 id="h-availability">Availability</h2>
    <div id="availability-body" class="body"></div>
  </section>
  <section id="events" aria-labelledby="h-events" tabindex="-1">
    <h2 id="h-events">Events</h2>
    <div class="filters" role="group" aria-label="Filter the events">
      <label>Set <select id="f-set"><option value="">all</option></select></label>
      <label>Node <select id="f-node"><option value="">all</option></select></label>
      <label>Kind <select id="f-what"><option value="">all</option></select></label>
      <label>Since <select id="f-since">
        <option value="">the whole history</option>
        <option value="600000">10 minutes</option>
        <option value="3600000">1 hour</option>
        <option value="86400000">1 day</option>
        <option value="604800000">7 days</option>
      </select></label>
      <label>Text <input id="f-text" type="search" placeholder="reason contains…"></label>
    </div>
    <p id="events-count" class="muted"></p>
    <div id="events-body" class="body"></div>
  </section>
</main>
<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text">
  <h2 id="confirm-title">Confirm</h2>
  <p id="confirm-text"></p>
  <p class="muted">Runs <code id="confirm-cmd"></code> with the credentials of this console.</p>
  <div class="buttons">
    <button type="button" id="confirm-cancel">Cancel</button>
    <button type="button" id="confirm-ok" class="primary">Confirm</button>
  </div>
</dialog>
</body>
</html>
`;
