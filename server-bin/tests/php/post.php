<?php
header('Content-Type: text/plain');
foreach ($_POST as $k => $v) {
    echo "$k=$v\n";
}
foreach ($_FILES as $k => $f) {
    echo "file:$k " . $f['size'] . " " . md5_file($f['tmp_name']) . "\n";
}
