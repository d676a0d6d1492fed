<?php
header('Content-Type: text/plain');
foreach ($_SERVER as $k => $v) {
    if (is_string($v)) {
        echo "$k=$v\n";
    }
}
