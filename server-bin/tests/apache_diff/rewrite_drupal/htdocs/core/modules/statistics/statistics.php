<?php // statistics
