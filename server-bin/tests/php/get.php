<?php
header('Content-Type: text/plain');
foreach ($_GET as $k => $v) {
    echo "$k=$v\n";
}
