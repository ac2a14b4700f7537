"""The monitoring page: polls /api/info and shows governors, CPU use and tasks."""

DASHBOARD_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Rain dashboard</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px}</style></head>
<body><h1>Rain</h1><table id="g"><tr><th>Governor</th><th>CPUs used</th><th>Tasks</th>
<th>Objects</th><th>Task types</th></tr></table>
<script>
async function refresh(){
  const info = await (await fetch('/api/info')).json();
  const t = document.getElementById('g');
  while (t.rows.length > 1) t.deleteRow(1);
  for (const g of info.governors){
    const r = t.insertRow();
    const used = g.resources.cpus - g.free_cpus;
    [g.governor_id, used + ' / ' + g.resources.cpus, g.tasks.length, g.objects.length,
     g.task_types.join(', ')].forEach(v => r.insertCell().textContent = v);
  }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""
