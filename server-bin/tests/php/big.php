<?php
header('Content-Type: application/octet-stream');
$mb = isset($_GET['mb']) ? (int)$_GET['mb'] : 50;
$chunk = str_repeat('x', 1 << 20);
for ($i = 0; $i < $mb; $i++) {
    echo $chunk;
}
