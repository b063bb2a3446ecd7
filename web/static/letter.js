// The printable notice's print button (no inline script: the app's Content-Security-Policy forbids it).
document.getElementById('print').addEventListener('click', function () { window.print(); });
