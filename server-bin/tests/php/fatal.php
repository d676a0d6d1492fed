<?php
echo_this_function_does_not_exist();
