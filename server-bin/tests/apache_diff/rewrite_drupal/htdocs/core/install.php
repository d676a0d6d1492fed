<?php // install
