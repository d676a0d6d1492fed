<?php // Drupal
