"""The monitoring page: governors with CPU use, sessions with progress, a task timeline.

Plain HTML and script, polling the JSON endpoints every second; no build step, no framework.
"""

DASHBOARD_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Rain dashboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.bar{background:#eee;width:160px;height:12px;display:inline-block}
.bar>span{background:#3a7;height:12px;display:block}
#timeline{border:1px solid #ccc}
</style></head>
<body><h1>Rain</h1>
<h2>Governors</h2>
<table id="governors"><tr><th>Governor</th><th>CPU use</th><th>Tasks</th><th>Objects</th>
<th>Task types</th></tr></table>
<h2>Sessions</h2>
<table id="sessions"><tr><th>Session</th><th>Name</th><th>Progress</th><th>Status</th></tr></table>
<h2>Task timeline (last finished tasks)</h2>
<svg id="timeline" width="900" height="200"></svg>
<script>
function bar(done, total){
  const pct = total ? Math.round(100 * done / total) : 100;
  return `<span class="bar"><span style="width:${pct}%"></span></span> ${done} / ${total}`;
}
function fill(id, rows){
  const t = document.getElementById(id);
  while (t.rows.length > 1) t.deleteRow(1);
  for (const cells of rows){
    const r = t.insertRow();
    for (const c of cells){ r.insertCell().innerHTML = c; }
  }
}
function esc(s){ return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
async function refresh(){
  const info = await (await fetch('/api/info')).json();
  fill('governors', info.governors.map(g => [esc(g.governor_id),
    bar(g.resources.cpus - Math.max(g.free_cpus, 0), g.resources.cpus), g.tasks.length, g.objects.length,
    esc(g.task_types.join(', '))]));
  fill('sessions', (info.sessions || []).map(s => [s.session_id, esc(s.name),
    bar(s.tasks - s.unfinished_tasks, s.tasks), s.error ? 'failed' : (s.unfinished_tasks ? 'running' : 'idle')]));
  const events = await (await fetch('/events', {method: 'POST',
    body: JSON.stringify({event_types: [{value: 'TaskFinished', mode: '='}]})})).json();
  drawTimeline(events.slice(-300).map(e => e.event));
}
function drawTimeline(tasks){
  const svg = document.getElementById('timeline');
  svg.innerHTML = '';
  if (!tasks.length) return;
  const govs = [...new Set(tasks.map(t => t.governor))];
  const t0 = Math.min(...tasks.map(t => t.start_time));
  const t1 = Math.max(...tasks.map(t => t.start_time + t.duration));
  const w = 900, rowH = Math.min(40, 200 / govs.length), scale = w / Math.max(t1 - t0, 1e-3);
  for (const t of tasks){
    const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    r.setAttribute('x', (t.start_time - t0) * scale);
    r.setAttribute('y', govs.indexOf(t.governor) * rowH + 2);
    r.setAttribute('width', Math.max(1, t.duration * scale));
    r.setAttribute('height', rowH - 4);
    r.setAttribute('fill', '#58a');
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = `${t.name || t.task_type} (session ${t.session}) on ${t.governor}: ${t.duration.toFixed(3)} s`;
    r.appendChild(title);
    svg.appendChild(r);
  }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""
