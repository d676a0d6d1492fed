<?php
error_log('stderr line from stderr.php');
echo "ok\n";
