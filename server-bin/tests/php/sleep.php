<?php
sleep((int)$_GET['s']);
echo "woke\n";
